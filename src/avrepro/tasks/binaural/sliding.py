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


def sliding_binauralize(
    binaural: np.ndarray,
    window: int,
    hop: int,
    rms: float,
    predict: Callable[[np.ndarray, list[int]], np.ndarray],
    eps: float = 1e-4,
) -> np.ndarray:
    """Predict a clip's binaural audio from its mixture, window by window.

    Each window of the reference pair is RMS-normalised to ``rms`` (the factor is kept), its
    mixture L+R goes to ``predict``, the predicted difference gives L = (mix + diff) / 2 and
    R = (mix - diff) / 2, which are scaled back and overlap-added; every sample is divided by
    the number of windows that covered it.

    Args:
        binaural: ``(2, T)`` reference pair (only its mixture and per-window level are used).
        predict: ``(mix_windows (W, window), starts) -> diff_windows (W, window)``.
    Returns:
        ``(2, T)`` predicted binaural audio.
    """
    n = binaural.shape[-1]
    starts = window_starts(n, window, hop)
    segs = np.stack([binaural[:, s : s + window] for s in starts]).astype(np.float32)  # (W, 2, N)
    levels = np.maximum(eps, np.sqrt(np.mean(np.square(segs, dtype=np.float64), axis=(1, 2))))
    scale = (rms / levels).astype(np.float32)[:, None]
    mix = (segs[:, 0] + segs[:, 1]) * scale
    diff = np.asarray(predict(mix, starts), dtype=np.float32)
    if diff.shape != mix.shape:
        raise ValueError(f"predict returned {diff.shape}, expected {mix.shape}")
    out = np.zeros((2, n), dtype=np.float64)
    count = np.zeros(n, dtype=np.float64)
    for i, s in enumerate(starts):
        out[0, s : s + window] += (mix[i] + diff[i]) / 2 / scale[i]
        out[1, s : s + window] += (mix[i] - diff[i]) / 2 / scale[i]
        count[s : s + window] += 1
    return (out / count).astype(np.float32)
