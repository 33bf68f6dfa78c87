"""Instrument phrases rendered from the General MIDI soundfont shipped in the pretty_midi wheel.

A phrase is drawn as a list of notes (random lead-in, notes and rests on a scale, varying
durations and velocities), played (:func:`perform`, with ``synthetic.performance.expressive``:
timing, velocity, legato, chords, vibrato by pitch bend and expression curves), written as an
in-memory MIDI file with ``mido`` and rendered by ``midirenderer`` (48 kHz stereo WAV) with
``TimGM6mb.sf2``, then mixed to mono and resampled.
"""

from __future__ import annotations

import functools
import importlib.util
import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

SOUNDFONT = "TimGM6mb.sf2"
TICKS_PER_SECOND = 960  # 480 ticks per beat at the default tempo (120 bpm)


@dataclass(frozen=True)
class Instrument:
    """A class: General MIDI program (0-based), playable pitch range, sustained or struck."""

    program: int
    low: int
    high: int
    sustained: bool


INSTRUMENTS: dict[str, Instrument] = {
    "violin": Instrument(40, 55, 88, True),
    "cello": Instrument(42, 36, 69, True),
    "flute": Instrument(73, 60, 93, True),
    "trumpet": Instrument(56, 55, 82, True),
    "acoustic_guitar": Instrument(24, 40, 76, False),
    "piano": Instrument(0, 36, 88, False),
    "xylophone": Instrument(13, 65, 96, False),
    "saxophone": Instrument(65, 49, 80, True),
}

CHORD_CLASSES = ("piano", "acoustic_guitar")  # classes that play chords
BEND_CENTS = 200.0  # the General MIDI pitch-bend range (+-2 semitones) at the wheel's full scale
CONTROL_STEP_S = 0.02  # time step of the expression and pitch-bend curves
_SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10), (0, 2, 4, 7, 9))
NOTE_BEATS = {"sustained": (0.5, 1.0, 1.5, 2.0), "struck": (0.25, 0.5, 1.0, 1.5)}
"""Note values (beats) a phrase draws from, with :data:`NOTE_PROBS` (``synthetic.note_beats``)."""
NOTE_PROBS = (0.25, 0.4, 0.2, 0.15)


@dataclass(frozen=True)
class Note:
    """One note: onset and duration in seconds, MIDI pitch, velocity 1-127."""

    start: float
    duration: float
    pitch: int
    velocity: int


def instrument(name: str) -> Instrument:
    """The instrument of a class name, with an error listing the known classes."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise ValueError(f"unknown instrument class '{name}' (known: {', '.join(INSTRUMENTS)})") from None


def soundfont_path() -> Path:
    """Path of ``TimGM6mb.sf2`` inside the installed pretty_midi package (not imported)."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise RuntimeError("pretty_midi is not installed; it carries the soundfont TimGM6mb.sf2")
    path = Path(spec.origin).parent / SOUNDFONT
    if not path.is_file():
        raise RuntimeError(f"{path}: soundfont not found in the pretty_midi package")
    return path


@functools.lru_cache(maxsize=1)
def soundfont_bytes() -> bytes:
    """The soundfont's bytes (read once per process)."""
    return soundfont_path().read_bytes()


def draw_phrase(
    rng: np.random.Generator, name: str, seconds: float, note_beats: dict | None = None
) -> list[Note]:
    """Random phrase filling ``seconds``: lead-in 0.05-0.5 s, notes on a random scale, rests.

    Sustained instruments play legato notes of ``note_beats["sustained"]``, struck ones detached
    notes of ``note_beats["struck"]`` (default :data:`NOTE_BEATS`) and, for piano and guitar,
    occasional two-note chords; the tempo is 80-150 bpm.
    """
    inst = instrument(name)
    beat = 60.0 / rng.uniform(80, 150)
    tonic = int(rng.integers(0, 12))
    scale = _SCALES[int(rng.integers(len(_SCALES)))]
    pitches = [p for p in range(inst.low, inst.high + 1) if (p - tonic) % 12 in scale]
    lengths = np.array((note_beats or NOTE_BEATS)["sustained" if inst.sustained else "struck"], dtype=float)
    probs = np.array(NOTE_PROBS)
    mean_vel = rng.uniform(65, 110)
    pos = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4 + 1))
    t = float(rng.uniform(0.05, 0.5))
    notes: list[Note] = []
    while t < seconds:
        dur = float(rng.choice(lengths, p=probs)) * beat
        if notes and rng.random() < 0.15:  # rest
            t += dur
            continue
        pos = int(np.clip(pos + rng.integers(-3, 4), 0, len(pitches) - 1))
        vel = int(np.clip(rng.normal(mean_vel, 12), 30, 127))
        hold = dur * (rng.uniform(0.85, 0.98) if inst.sustained else rng.uniform(0.6, 0.95))
        notes.append(Note(t, hold, pitches[pos], vel))
        if name in CHORD_CLASSES and rng.random() < 0.25 and pos + 2 < len(pitches):
            notes.append(Note(t, hold, pitches[pos + 2], max(30, vel - 10)))
        t += dur
    return notes


def phrase_midi(notes: list[Note], program: int, seconds: float, controls: tuple = ()) -> bytes:
    """A type-0 MIDI file (bytes) playing ``notes`` on ``program``, at least ``seconds`` long.

    ``controls``: ``(seconds, kind, value)`` events, kind ``"expression"`` (CC11, 0-127) or
    ``"bend"`` (pitch wheel, -8192..8191), sent before the notes of the same tick.
    """
    import mido

    events = []
    for n in notes:
        on = round(n.start * TICKS_PER_SECOND)
        off = max(on + 1, round((n.start + n.duration) * TICKS_PER_SECOND))
        events.append((on, 1, n.pitch, n.velocity))
        events.append((off, 0, n.pitch, 0))
    events += [(round(t * TICKS_PER_SECOND), -1, kind, int(v)) for t, kind, v in controls]
    events.sort()  # (tick, rank): controls, note-offs, note-ons
    mid = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_SECOND // 2)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.Message("program_change", program=program, channel=0, time=0))
    now = 0
    for tick, rank, a, b in events:
        if rank < 0:
            msg = (
                mido.Message("control_change", control=11, value=b, channel=0)
                if a == "expression"
                else mido.Message("pitchwheel", pitch=b, channel=0)
            )
        else:
            msg = mido.Message("note_on" if rank else "note_off", note=a, velocity=b, channel=0)
        track.append(msg.copy(time=tick - now))
        now = tick
    end = max(now, round(seconds * TICKS_PER_SECOND) + TICKS_PER_SECOND // 10)
    track.append(mido.MetaMessage("end_of_track", time=end - now))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def expressive(performance: dict | None) -> bool:
    """Whether ``synthetic.performance`` asks for expressive playing (and the recording chain)."""
    return bool(performance and performance["expressive"])


def draw_program(rng: np.random.Generator, name: str, performance: dict | None) -> int:
    """The General MIDI program a clip's player of class ``name`` plays: one of
    ``performance["programs"][name]`` when the performance is expressive (one draw from ``rng``),
    else the class's own (no draw)."""
    if not expressive(performance):
        return instrument(name).program
    programs = performance["programs"].get(name) or [instrument(name).program]
    return int(programs[int(rng.integers(len(programs)))])


def _played(rng: np.random.Generator, name: str, notes: list[Note], perf: dict) -> list[Note]:
    """The notes as played: onsets off the score by ``timing_ms`` (SD), velocities spread by
    ``velocity_sd``, sustained classes held ``legato`` times longer, chord classes adding a fifth
    above a note with ``triad_prob`` (strummed ``strum_ms`` later on guitar)."""
    inst = instrument(name)
    played = []
    for n in notes:
        start = max(0.0, n.start + rng.normal(0.0, perf["timing_ms"] / 1000))
        hold = n.duration * (rng.uniform(*perf["legato"]) if inst.sustained else 1.0)
        vel = int(np.clip(n.velocity + rng.normal(0.0, perf["velocity_sd"]), 20, 127))
        played.append(Note(start, hold, n.pitch, vel))
        if name in CHORD_CLASSES and n.pitch + 7 <= inst.high and rng.random() < perf["triad_prob"]:
            lag = perf["strum_ms"] / 1000 if name == "acoustic_guitar" else 0.0
            played.append(Note(start + lag, hold, n.pitch + 7, max(30, vel - 10)))
    return played


def _expression_curves(
    rng: np.random.Generator, name: str, notes: list[Note], seconds: float, perf: dict
) -> tuple:
    """CC11 (every class: a walk within +-``phrase_db``; sustained classes also swell by
    ``swell_db`` inside each note) and, on sustained classes, a pitch-bend vibrato that sets in
    ``vibrato_onset_s`` after each onset; ``(seconds, kind, value)`` events for :func:`phrase_midi`."""
    t = np.arange(0.0, seconds + CONTROL_STEP_S, CONTROL_STEP_S)
    level_db = np.clip(np.cumsum(rng.normal(0.0, 0.3, len(t))), -perf["phrase_db"], perf["phrase_db"])
    cents = np.zeros(len(t))
    sustained = instrument(name).sustained
    for n in notes if sustained else []:
        inside = (t >= n.start) & (t < n.start + n.duration)
        u = (t[inside] - n.start) / max(n.duration, 1e-3)
        level_db[inside] -= rng.uniform(*perf["swell_db"]) * (1 - np.sin(np.pi * u) ** 0.7)
        rate, depth = rng.uniform(*perf["vibrato_hz"]), rng.uniform(*perf["vibrato_cents"])
        ramp = np.clip((t[inside] - n.start - rng.uniform(*perf["vibrato_onset_s"])) / 0.2, 0, 1)
        phase = 2 * np.pi * rate * (t[inside] - n.start) + rng.uniform(0, 2 * np.pi)
        cents[inside] = depth * ramp * np.sin(phase)
    expression = np.clip(np.round(108 * 10 ** (level_db / 40)), 1, 127)  # CC11 ~ 40 log10 (GM)
    events = [(x, "expression", v) for x, v in zip(t, expression, strict=True)]
    if sustained:
        wheel = np.clip(np.round(cents / BEND_CENTS * 8192), -8192, 8191)
        events += [(x, "bend", v) for x, v in zip(t, wheel, strict=True)]
    return tuple(events)


def perform(
    rng: np.random.Generator, name: str, notes: list[Note], seconds: float, perf: dict
) -> tuple[list[Note], tuple]:
    """Play the written ``notes`` of class ``name`` as ``perf`` (``synthetic.performance``) says.

    Returns:
        (the played notes, their control events for :func:`phrase_midi`).
    """
    played = _played(rng, name, notes, perf)
    return played, _expression_curves(rng, name, played, seconds, perf)


@functools.lru_cache(maxsize=4)
def _dc_blocker(rate: int) -> np.ndarray:
    """2nd-order Butterworth high-pass at 20 Hz (causal, so silent lead-ins stay silent)."""
    return butter(2, 20.0, btype="highpass", fs=rate, output="sos")


def render_midi(midi: bytes, rate: int, n_samples: int) -> np.ndarray:
    """Render MIDI bytes with the soundfont; mono float32 at ``rate``, exactly ``n_samples`` long.

    The soundfont's stereo output is averaged to mono and high-passed at 20 Hz to remove DC.
    """
    import midirenderer

    wav = midirenderer.render_wave_from(soundfont_bytes(), midi)
    audio, src_rate = sf.read(io.BytesIO(bytes(wav)), dtype="float64", always_2d=True)
    mono = sosfilt(_dc_blocker(int(src_rate)), audio.mean(axis=1))  # some samples carry DC
    if src_rate != rate:
        ratio = Fraction(int(rate), int(src_rate))
        mono = resample_poly(mono, ratio.numerator, ratio.denominator)
    out = np.zeros(n_samples, dtype=np.float32)
    out[: min(n_samples, len(mono))] = mono[:n_samples]
    return out


def render_phrase(
    rng: np.random.Generator,
    name: str,
    seconds: float,
    rate: int,
    note_beats: dict | None = None,
    program: int | None = None,
    performance: dict | None = None,
) -> tuple[np.ndarray, list[Note]]:
    """Draw (:func:`draw_phrase`), play (:func:`perform`, when ``performance["expressive"]``) and
    render one phrase of class ``name`` on ``program`` (default: the class's).

    Returns:
        (audio (round(seconds * rate),) float32 mono, the notes as played).
    """
    notes = draw_phrase(rng, name, seconds, note_beats)
    controls: tuple = ()
    if expressive(performance):
        notes, controls = perform(rng, name, notes, seconds, performance)
    program = instrument(name).program if program is None else program
    midi = phrase_midi(notes, program, seconds, controls)
    return render_midi(midi, rate, int(round(seconds * rate))), notes
