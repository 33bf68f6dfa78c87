"""Does a more realistic performance make the embedded solos harder for blind NMF (issue 17)?

    python benchmarks/separation_realism.py --pairs 40

Renders pairs of phrases of two different classes from the generator's soundfont, dry (no
room), four ways: as the generator plays them (``plain``: ``synthetic.note_beats``, flat
velocity per note, no vibrato); ``busy`` (every note value halved: 3.3 and 5.4 notes/s instead
of 1.7 and 2.7); ``expressive`` (vibrato by pitch bend, 10-35 cents at 4.5-7 Hz after a
0.1-0.3 s onset, on the bowed, wind and brass classes; expression (CC11) swells of 3-8 dB within
their notes and a +-6 dB phrase-level walk; onset jitter of 12 ms; legato overlaps; strummed
triads on guitar, block triads on piano; a second General MIDI program where the class has
one); and ``expressive+noise`` (plus white noise 35 dB below each source). Each pair's
16,383-sample window (11,025 Hz, each source at the same RMS, each / 2) is separated by the
separation task's blind NMF-MFCC baseline and by the ideal binary mask, scored by BSS Eval as
the task does.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, save  # noqa: E402
from avrepro.config import load_params  # noqa: E402
from avrepro.data.synthetic import instruments as ins  # noqa: E402
from avrepro.metrics.separation import mixture_scores  # noqa: E402
from avrepro.tasks.separation import spectral  # noqa: E402
from avrepro.tasks.separation.baselines import blind_nmf_masks  # noqa: E402

RATE, SECONDS = 11025, 2.0
BUSY_BEATS = {"sustained": (0.25, 0.5, 0.75, 1.0), "struck": (0.125, 0.25, 0.5, 0.75)}
"""Half the default note values (``synthetic.note_beats``): 3.3 and 5.4 notes/s at 80-150 bpm."""
EXPRESSIVE = {"violin", "cello", "flute", "trumpet", "saxophone"}  # vibrato and swells
PROGRAMS = {  # General MIDI programs (0-based) of each class
    "violin": (40, 110),
    "cello": (42,),
    "flute": (73,),
    "trumpet": (56, 59),
    "acoustic_guitar": (24, 25),
    "piano": (0, 1),
    "xylophone": (13,),
    "saxophone": (65, 66),
}


def chords(rng: np.random.Generator, name: str, notes: list) -> list:
    """Piano and guitar notes with added triads (a third and a fifth; strummed on guitar)."""
    if name not in ("piano", "acoustic_guitar"):
        return notes
    out = []
    for n in notes:
        out.append(n)
        if rng.random() < 0.35:
            for k, step in enumerate((4, 7)):
                if n.pitch + step <= ins.instrument(name).high:
                    lag = 0.015 * (k + 1) if name == "acoustic_guitar" else 0.0
                    out.append(ins.Note(n.start + lag, n.duration, n.pitch + step, max(30, n.velocity - 15)))
    return out


def expression_events(rng, name: str, notes: list, seconds: float) -> list:
    """(seconds, MIDI message) of the CC11 curve and, on expressive classes, the vibrato."""
    import mido

    t = np.arange(0.0, seconds + 0.1, 0.02)
    level_db = np.clip(np.cumsum(rng.normal(0, 0.3, len(t))), -6, 6)
    bend = np.full(len(t), rng.normal(0, 3))  # intonation, cents
    for n in notes if name in EXPRESSIVE else []:
        inside = (t >= n.start) & (t < n.start + n.duration)
        u = np.clip((t[inside] - n.start) / max(n.duration, 1e-3), 0, 1)
        level_db[inside] -= rng.uniform(3, 8) * (1 - np.sin(np.pi * u) ** 0.7)
        rate, depth, onset = rng.uniform(4.5, 7.0), rng.uniform(10, 35), rng.uniform(0.1, 0.3)
        ramp = np.clip((t[inside] - n.start - onset) / 0.2, 0, 1)
        bend[inside] += depth * ramp * np.sin(2 * np.pi * rate * (t[inside] - n.start) + rng.uniform(0, 6.3))
    cc = np.clip(108 * 10 ** (level_db / 40), 1, 127).astype(int)
    wheel = np.clip(np.round(bend / 100 * 4096), -8192, 8191).astype(int)  # bend range +-2 semitones
    events = [
        (x, mido.Message("control_change", control=11, value=int(c))) for x, c in zip(t, cc, strict=True)
    ]
    if name in EXPRESSIVE:
        events += [(x, mido.Message("pitchwheel", pitch=int(w))) for x, w in zip(t, wheel, strict=True)]
    return events


def expressive_midi(rng: np.random.Generator, name: str, seconds: float, beats: dict) -> bytes:
    """An expressive performance of a phrase of class ``name`` (see the module docstring)."""
    import mido

    notes = chords(rng, name, ins.draw_phrase(rng, name, seconds, beats))
    legato = name in EXPRESSIVE
    played = [
        ins.Note(
            max(0.0, n.start + rng.normal(0, 0.012)),
            n.duration * (rng.uniform(1.0, 1.08) if legato else 1.0),
            n.pitch,
            int(np.clip(n.velocity + rng.normal(0, 10), 20, 127)),
        )
        for n in notes
    ]
    events = expression_events(rng, name, played, seconds)
    for n in played:
        events += [(n.start, mido.Message("note_on", note=n.pitch, velocity=n.velocity))]
        events += [(n.start + n.duration, mido.Message("note_off", note=n.pitch, velocity=0))]
    ticks = [(round(x * ins.TICKS_PER_SECOND), m) for x, m in events]
    ticks.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    mid = mido.MidiFile(type=0, ticks_per_beat=ins.TICKS_PER_SECOND // 2)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.Message("program_change", program=int(rng.choice(PROGRAMS[name])), time=0))
    now = 0
    for tick, msg in ticks:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, round(seconds * ins.TICKS_PER_SECOND) - now)))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def source(mode: str, name: str, rng: np.random.Generator, length: int, beats: dict) -> np.ndarray:
    """One source's window, RMS 0.1, rendered the way ``mode`` says (``beats``: the generator's
    ``synthetic.note_beats``)."""
    if mode in ("plain", "busy"):
        audio, _ = ins.render_phrase(rng, name, SECONDS, RATE, BUSY_BEATS if mode == "busy" else beats)
    else:
        audio = ins.render_midi(expressive_midi(rng, name, SECONDS, beats), RATE, int(SECONDS * RATE))
        if mode == "expressive+noise":
            rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2))
            audio = audio + (rms * 10 ** (-35 / 20) * rng.standard_normal(len(audio))).astype(np.float32)
    x = audio[2000 : 2000 + length].astype(np.float64)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12) * 0.1


def scores(mode: str, pairs: int, cfg: dict) -> dict[str, list[float]]:
    """SDR of blind NMF and of the ideal binary mask on ``pairs`` mixtures rendered as ``mode``."""
    acfg, ncfg = cfg["separation"]["audio"], cfg["separation"]["eval"]["nmf"]
    classes, length = cfg["synthetic"]["classes"], int(acfg["window"])
    beats = cfg["synthetic"]["note_beats"]
    pick = np.random.default_rng(123)
    out = {"nmf": [], "ibm": []}
    for i in range(pairs):
        chosen = pick.choice(len(classes), 2, replace=False)
        srcs = [
            source(mode, classes[c], np.random.default_rng([7, i, int(c)]), length, beats) for c in chosen
        ]
        refs = torch.from_numpy(np.stack(srcs)[None].astype(np.float32)) / 2
        mix_spec = spectral.spec(refs.sum(1), acfg)
        mags = spectral.spec(refs, acfg).abs().numpy()[0]
        masks = {
            "nmf": blind_nmf_masks(mix_spec[0].abs().numpy(), mags, RATE, ncfg, seed=0),
            "ibm": (mags == mags.max(0, keepdims=True)).astype(np.float32),
        }
        mixture = spectral.waveform(mix_spec, acfg, length).numpy()[0]
        for name, mask in masks.items():
            est = spectral.apply_masks(
                torch.from_numpy(mask[None].astype(np.float32)), mix_spec, acfg, length
            )
            result = mixture_scores(refs[0].numpy(), est.numpy()[0], mixture)
            if result:
                out[name].append(result["sdr"])
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=40)
    args = ap.parse_args(argv)
    cfg = load_params(ROOT / "params.yaml", {"profile": "default"})
    lines, figures = [f"{args.pairs} dry two-class mixtures, 16,383 samples at 11,025 Hz (SDR, dB)"], {}
    for mode in ("plain", "busy", "expressive", "expressive+noise"):
        result = scores(mode, args.pairs, cfg)
        figures[mode] = {
            k: {"mean": float(np.mean(v)), "sem": float(np.std(v, ddof=1) / np.sqrt(len(v)))}
            for k, v in result.items()
        }
        nmf, ibm = figures[mode]["nmf"], figures[mode]["ibm"]
        lines.append(
            f"  {mode:17s} blind NMF {nmf['mean']:5.2f} +- {nmf['sem']:.2f}   "
            f"IBM {ibm['mean']:5.2f} +- {ibm['sem']:.2f}"
        )
    save("separation_realism", "Blind NMF on plain and expressive soundfont performances", lines, figures)
    return figures


if __name__ == "__main__":
    main()
