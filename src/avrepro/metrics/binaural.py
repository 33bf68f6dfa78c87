"""Binaural metrics: the 2.5D Visual Sound evaluation (STFT and envelope distances) and the
geometry-aware heads' test scores (spatial-coherence accuracy, RIR envelope error)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.signal import hilbert

from avrepro.audio.stft import stft


def peak_normalize(x: np.ndarray) -> np.ndarray:
    """Scale a binaural pair by its maximum absolute sample (both channels together)."""
    return x / max(1e-20, float(np.max(np.abs(x))))


def stft_distance(
    pred: np.ndarray, true: np.ndarray, n_fft: int = 512, hop: int = 160, win: int = 400
) -> float:
    """Sum over the two channels of the MSE between [real; imag] STFTs. Shape: (2, T) each."""
    p = stft(torch.from_numpy(np.ascontiguousarray(pred, dtype=np.float32)), n_fft, hop, win)
    t = stft(torch.from_numpy(np.ascontiguousarray(true, dtype=np.float32)), n_fft, hop, win)
    diff = torch.view_as_real(p).double() - torch.view_as_real(t).double()  # (2, F, T, 2)
    return float(diff.pow(2).mean(dim=(1, 2, 3)).sum())


def env_distance(pred: np.ndarray, true: np.ndarray) -> float:
    """Sum over the two channels of the RMSE between Hilbert envelopes. Shape: (2, T) each."""
    pe = np.abs(hilbert(pred.astype(np.float64), axis=-1))
    te = np.abs(hilbert(true.astype(np.float64), axis=-1))
    return float(np.sqrt(np.mean((pe - te) ** 2, axis=-1)).sum())


def clip_metrics(pred: np.ndarray, true: np.ndarray, stft_cfg: dict | None = None) -> dict:
    """Both distances after peak-normalising each binaural pair, as the official evaluation."""
    if pred.shape != true.shape or pred.ndim != 2 or pred.shape[0] != 2:
        raise ValueError(f"expected two (2, T) arrays of equal shape, got {pred.shape} and {true.shape}")
    pred, true = peak_normalize(pred), peak_normalize(true)
    kw = {k: stft_cfg[k] for k in ("n_fft", "hop", "win")} if stft_cfg else {}
    return {"stft_distance": stft_distance(pred, true, **kw), "env_distance": env_distance(pred, true)}


def coherence_accuracy(correct) -> float:
    """Fraction of correct swapped/not-swapped decisions (0/1 per window and ear order)."""
    correct = np.asarray(correct, dtype=np.float64).ravel()
    if correct.size == 0:
        raise ValueError("coherence_accuracy: no decisions")
    return float(correct.mean())


def rir_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute difference in dB between two RIR log-energy envelopes of equal shape."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise ValueError(f"rir_error: shapes differ, {pred.shape} vs {true.shape}")
    return float(np.mean(np.abs(pred - true)))
