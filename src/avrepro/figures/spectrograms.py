"""Spectrogram panels of binaural predictions: mono input, true and predicted L−R."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import get_window

from avrepro.figures import new_figure, save_png, styled


def log_spectrogram(
    x: np.ndarray, n_fft: int = 512, hop: int = 160, win_length: int | None = None
) -> np.ndarray:
    """Centered Hann STFT magnitude in dB (20 log10 |X|).

    Shape:
        ``x`` (T,) -> (n_fft // 2 + 1, 1 + T // hop).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"log_spectrogram: expected a 1-D signal, got shape {x.shape}")
    win_length = n_fft if win_length is None else win_length
    window = np.zeros(n_fft)
    start = (n_fft - win_length) // 2
    window[start : start + win_length] = get_window("hann", win_length, fftbins=True)
    pad = n_fft // 2
    mode = "reflect" if len(x) > pad else "constant"
    padded = np.pad(x, pad, mode=mode)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    mag = np.abs(np.fft.rfft(frames * window, axis=-1)).T
    return 20.0 * np.log10(np.maximum(mag, 1e-10))


def _as_binaural(x, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != 2:
        raise ValueError(f"{what}: expected binaural audio of shape (2, T) (row 0 = left), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: audio contains NaN or Inf")
    return x


def plot_binaural_panel(
    mono: np.ndarray,
    true_lr: np.ndarray,
    pred_lr: dict[str, np.ndarray],
    sample_rate: int,
    out_png: str | Path,
    n_fft: int = 512,
    hop: int = 160,
    title: str | None = None,
    dynamic_range_db: float = 80.0,
) -> Path:
    """Rows: mono input, true L−R, each model's predicted L−R (log-magnitude spectrograms).

    Args:
        mono: the mono input, shape (T,) (or (1, T)).
        true_lr: the true binaural audio, shape (2, T), row 0 = left.
        pred_lr: model name -> predicted binaural audio, shape (2, T).
        sample_rate: Hz.
        out_png: the PNG to write.
        n_fft, hop: STFT size and hop in samples.
        title: figure title (default: a description of the rows).
        dynamic_range_db: colour range below the maximum; the L−R rows share one scale.
    Returns:
        ``out_png``. Signals of different lengths are cut to the shortest.
    """
    rows, n = _panel_rows(mono, true_lr, pred_lr, n_fft, hop)
    mono_max = float(rows[0][1].max())
    diff_max = float(max(r[1].max() for r in rows[1:]))
    extent = (0.0, n / sample_rate, 0.0, sample_rate / 2000.0)
    with styled():
        fig = new_figure((7.5, 1.65 * len(rows) + 0.8))
        axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
        images = []
        for i, (ax, (label, spec)) in enumerate(zip(axes, rows, strict=False)):
            vmax = mono_max if i == 0 else diff_max
            images.append(_spectrogram_axis(ax, label, spec, extent, vmax, dynamic_range_db))
        axes[-1].set_xlabel("time (s)")
        fig.colorbar(images[0], ax=axes[:1], label="dB", pad=0.01, aspect=8)
        fig.colorbar(
            images[1], ax=list(axes[1:]), label="dB (shared scale)", pad=0.01, aspect=8 * (len(rows) - 1)
        )
        fig.suptitle(
            title or "Binaural prediction: mono input, true and predicted L−R spectrograms", fontweight="bold"
        )
        return save_png(fig, out_png)


def _panel_rows(mono, true_lr, pred_lr: dict, n_fft: int, hop: int) -> tuple[list, int]:
    """(label, log spectrogram) rows of the panel (mono, true L−R, each prediction's L−R), all
    cut to the shortest signal, and that length."""
    mono = np.asarray(mono, dtype=np.float64)
    if mono.ndim == 2 and mono.shape[0] == 1:
        mono = mono[0]
    if mono.ndim != 1:
        raise ValueError(f"mono: expected shape (T,), got {mono.shape}")
    true_lr = _as_binaural(true_lr, "true binaural")
    preds = {name: _as_binaural(p, f"prediction '{name}'") for name, p in pred_lr.items()}
    n = min([len(mono), true_lr.shape[1]] + [p.shape[1] for p in preds.values()])
    if n < hop:
        raise ValueError(f"plot_binaural_panel: audio too short ({n} samples < hop {hop})")
    rows = [("mono input (L+R)", log_spectrogram(mono[:n], n_fft, hop))]
    rows.append(("true L−R", log_spectrogram(true_lr[0, :n] - true_lr[1, :n], n_fft, hop)))
    for name, p in preds.items():
        rows.append((f"predicted L−R: {name}", log_spectrogram(p[0, :n] - p[1, :n], n_fft, hop)))
    return rows, n


def _spectrogram_axis(ax, label: str, spec, extent, vmax: float, dynamic_range_db: float):
    """Draw one spectrogram row; return its image (for the colour bars)."""
    im = ax.imshow(
        spec,
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap="magma",
        vmin=vmax - dynamic_range_db,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.set_title(label, loc="left")
    ax.set_ylabel("frequency (kHz)")
    ax.grid(False)
    return im
