"""Does a more realistic performance make the embedded solos harder for blind NMF (issue 17)?

    python benchmarks/separation_realism.py --pairs 40

Renders pairs of phrases of two different classes from the generator's soundfont, dry (no
room), four ways: as written (``plain``: flat velocity per note, one program per class, no
vibrato); ``busy`` (every note value halved: 3.3 and 5.4 notes/s instead of 1.7 and 2.7);
``expressive`` (played as ``synthetic.performance`` says: programs, timing, velocity, legato,
chords, vibrato and expression curves; :func:`avrepro.data.synthetic.instruments.perform`); and
``expressive+noise`` (plus the recording's pink noise floor, ``performance.noise_snr_db`` below
each source). Each pair's 16,383-sample window (11,025 Hz, each source at the same RMS, each / 2)
is separated by the separation task's blind NMF-MFCC baseline and by the ideal binary mask,
scored by BSS Eval as the task does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, save  # noqa: E402
from avrepro.config import load_params  # noqa: E402
from avrepro.data.synthetic import instruments as ins  # noqa: E402
from avrepro.data.synthetic.recording import draw_recording, microphone, with_noise_floor  # noqa: E402
from avrepro.metrics.separation import mixture_scores  # noqa: E402
from avrepro.tasks.separation import spectral  # noqa: E402
from avrepro.tasks.separation.baselines import blind_nmf_masks  # noqa: E402

RATE, SECONDS = 11025, 2.0
BUSY_BEATS = {"sustained": (0.25, 0.5, 0.75, 1.0), "struck": (0.125, 0.25, 0.5, 0.75)}
"""Half the default note values (``synthetic.note_beats``): 3.3 and 5.4 notes/s at 80-150 bpm."""


def source(mode: str, name: str, rng: np.random.Generator, length: int, syn: dict) -> np.ndarray:
    """One source's window, RMS 0.1, rendered the way ``mode`` says (``syn``: the generator's
    ``synthetic`` section)."""
    perf = syn["performance"]
    if mode in ("plain", "busy"):
        beats = BUSY_BEATS if mode == "busy" else syn["note_beats"]
        audio, _ = ins.render_phrase(rng, name, SECONDS, RATE, beats)
    else:
        program = ins.draw_program(rng, name, perf)
        audio, _ = ins.render_phrase(rng, name, SECONDS, RATE, syn["note_beats"], program, perf)
        if mode == "expressive+noise":
            rec = draw_recording(rng, perf)
            audio = with_noise_floor(rng, microphone(audio[None], RATE, rec), RATE, rec)[0]
    x = audio[2000 : 2000 + length].astype(np.float64)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12) * 0.1


def scores(mode: str, pairs: int, cfg: dict) -> dict[str, list[float]]:
    """SDR of blind NMF and of the ideal binary mask on ``pairs`` mixtures rendered as ``mode``."""
    acfg, ncfg = cfg["separation"]["audio"], cfg["separation"]["eval"]["nmf"]
    classes, length = cfg["synthetic"]["classes"], int(acfg["window"])
    pick = np.random.default_rng(123)
    out = {"nmf": [], "ibm": []}
    for i in range(pairs):
        chosen = pick.choice(len(classes), 2, replace=False)
        srcs = [
            source(mode, classes[c], np.random.default_rng([7, i, int(c)]), length, cfg["synthetic"])
            for c in chosen
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
