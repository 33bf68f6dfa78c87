"""Sliding-window binauralisation of a whole clip, as in the official 2.5D demo/evaluation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Window starts every ``hop`` samples while a window fits strictly inside, plus one final
    window aligned to the clip's end (the official code's last-segment rule)."""
    if n_samples < window:
        raise ValueError(f"clip of {n_samples} samples is shorter than one window ({window})")
    starts = list(range(0, n_samples - window, hop)) or [0]
    if starts[-1] != n_samples - window:
        starts.append(n_samples - window)
    return starts


def scaled_mixtures(
    binaural: np.ndarray, starts: list[int], window: int, rms: float, eps: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """The mixtures L+R of the windows at ``starts``, each window's pair RMS-normalised to ``rms``,
    and the scale factors ``(W, 1)`` that were applied."""
    segs = np.stack([binaural[:, s : s + window] for s in starts]).astype(np.float32)  # (W, 2, N)
    levels = np.maximum(eps, np.sqrt(np.mean(np.square(segs, dtype=np.float64), axis=(1, 2))))
    scale = (rms / levels).astype(np.float32)[:, None]
    return (segs[:, 0] + segs[:, 1]) * scale, scale


def sliding_binauralize(
    binaural: np.ndarray,
    window: int,
    hop: int,
    rms: float,
    predict: Callable[[np.ndarray, list[int]], np.ndarray],
    eps: float = 1e-4,
    chunk: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Predict a clip's binaural audio from its mixture, window by window.

    Each window of the reference pair is RMS-normalised to ``rms`` (the factor is kept), its
    mixture L+R goes to ``predict``, the predicted difference gives L = (mix + diff) / 2 and
    R = (mix - diff) / 2, which are scaled back and overlap-added; every sample is divided by
    the number of windows that covered it.

    Args:
        binaural: ``(2, T)`` reference pair (only its mixture and per-window level are used).
        predict: ``(mix_windows (W, window), starts) -> diff_windows (W, window)``.
        chunk: windows per ``predict`` call (None: all at once); a long clip's memory then
            holds ``chunk`` windows, not all of them. The same windows, in the same order.
        on_chunk: called with the number of windows of each chunk once it is added (progress).
    Returns:
        ``(2, T)`` predicted binaural audio.
    """
    n = binaural.shape[-1]
    starts = window_starts(n, window, hop)
    out = np.zeros((2, n), dtype=np.float64)
    count = np.zeros(n, dtype=np.float64)
    step = chunk or len(starts)
    for first in range(0, len(starts), step):
        part = starts[first : first + step]
        mix, scale = scaled_mixtures(binaural, part, window, rms, eps)
        diff = np.asarray(predict(mix, part), dtype=np.float32)
        if diff.shape != mix.shape:
            raise ValueError(f"predict returned {diff.shape}, expected {mix.shape}")
        for i, s in enumerate(part):
            out[0, s : s + window] += (mix[i] + diff[i]) / 2 / scale[i]
            out[1, s : s + window] += (mix[i] - diff[i]) / 2 / scale[i]
            count[s : s + window] += 1
        if on_chunk is not None:
            on_chunk(len(part))
    return (out / count).astype(np.float32)
