"""Dry stems: one source's phrase at a random level, shared by the pinhole and the 360 render."""

from __future__ import annotations

import numpy as np

from avrepro.data.synthetic import instruments
from avrepro.data.synthetic.instruments import Note

STEM_RMS = 0.1  # dry stem RMS before the random level and the clip gain
LEVEL_DB = (-3.0, 3.0)


def dry_stem(
    rng: np.random.Generator,
    name: str,
    seconds: float,
    rate: int,
    cid: str,
    scale: float = 1.0,
    view: str = "",
    note_beats: dict | None = None,
    program: int | None = None,
    performance: dict | None = None,
) -> tuple[np.ndarray, list[Note], float]:
    """Draw a level in :data:`LEVEL_DB`, then render a phrase of class ``name`` at RMS
    ``scale * STEM_RMS`` times that level.

    Args:
        note_beats: the phrase's note values (``synthetic.note_beats``; see
            :func:`~avrepro.data.synthetic.instruments.draw_phrase`).
        program, performance: the General MIDI program and how it is played
            (``synthetic.performance``; see :func:`~avrepro.data.synthetic.instruments.render_phrase`).
        cid, view: name the clip (and the view, e.g. ``" (360 view)"``) in the error.
    Returns:
        (stem, its notes, level in dB).
    Raises:
        RuntimeError: the rendered phrase is silent.
    """
    level_db = float(rng.uniform(*LEVEL_DB))
    audio, notes = instruments.render_phrase(rng, name, seconds, rate, note_beats, program, performance)
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if rms < 1e-6:
        raise RuntimeError(f"clip {cid}: rendered {name} phrase{view} is silent")
    return audio * (scale * STEM_RMS * 10 ** (level_db / 20) / rms), notes, level_db
