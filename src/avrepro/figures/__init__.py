"""Figures and tables of the report: loss curves, spectrogram panels, demo videos, metric tables.

Every writer is atomic (temp file + rename) and deterministic: the same inputs give
byte-identical PNGs (fixed style, no software/time metadata). Plots are drawn on
:class:`matplotlib.figure.Figure` objects rendered by the Agg canvas, so nothing here touches
pyplot's global state or the user's interactive backend.

Modules: :mod:`~avrepro.figures.curves` (training curves from dvclive logs),
:mod:`~avrepro.figures.tables` (metric tables), :mod:`~avrepro.figures.spectrograms`
(binaural spectrogram panels), :mod:`~avrepro.figures.demo` (demo mp4, per-clip distributions).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from avrepro.io import atomic_path

DPI = 120

# Fixed style so that a user's matplotlibrc cannot change the report's figures.
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.grid": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "image.interpolation": "nearest",
    "path.simplify": True,
    "svg.hashsalt": "avrepro",
}

# Names -> colours, stable across figures: baselines grey, controls muted, models tab10.
_NAMED_COLORS = {"mono_mono": "#7f7f7f", "audio_only": "#bcbd22", "mixture": "#7f7f7f",
                 "flipped_visual": "#8c564b"}
_TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2", "#17becf"]


def color_for(name: str, names: list[str]) -> str:
    """A stable colour for ``name`` among ``names`` (baselines/controls keep a fixed colour)."""
    if name in _NAMED_COLORS:
        return _NAMED_COLORS[name]
    others = [n for n in names if n not in _NAMED_COLORS]
    return _TAB10[others.index(name) % len(_TAB10)] if name in others else _TAB10[0]


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Context in which figures are created and saved with the report's fixed style."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_figure(figsize: tuple[float, float]):
    """A constrained-layout Figure rendered by Agg (call inside :func:`styled`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: str | Path) -> Path:
    """Save ``fig`` as a PNG atomically, without metadata that changes between runs."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return path


def require_file(path: str | Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise ``FileNotFoundError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    return path


# File names under reports/figures/binaural/ that the report links (see avrepro.report).
BINAURAL_FIGURES = {
    "loss_curves": "loss_curves.png",
    "distributions": "{key}_clips.png",
    "spectrograms": "spectrograms_{clip}.png",
    "demo": "demo_{clip}_{what}.mp4",
}


def make_binaural_figures(live_dirs: dict[str, Path], clip_csvs: dict[str, Path], pred_dir: Path,
                          test_clips: dict, sample_rate: int, fps: float, out_dir: Path,
                          variants: list[str] | None = None, n_fft: int = 512,
                          hop: int = 160) -> list[Path]:
    """Draw every binaural figure into ``out_dir`` with the names of ``BINAURAL_FIGURES``.

    Args:
        live_dirs: variant -> dvclive directory (loss curves).
        clip_csvs: model or baseline -> per-clip metric CSV (distributions).
        pred_dir: ``reports/predictions/binaural``; holds ``<variant>/<clip_id>.wav``.
        test_clips: clip id -> ``(true_binaural (2, T) float, frames (F, H, W, 3) uint8)``.
        sample_rate, fps: of the clips' audio and frames.
        out_dir: ``reports/figures/binaural``.
        variants: the variants whose predictions are shown (default: ``live_dirs``' keys).
    Returns:
        the paths written: loss curves, per-clip distributions of STFT and ENV distance, and per
        clip a spectrogram panel plus demo mp4s (mono input, true binaural, each variant).
    """
    import numpy as np

    from avrepro.figures.curves import plot_loss_curves
    from avrepro.figures.demo import plot_metric_distributions, write_demo_mp4
    from avrepro.figures.spectrograms import plot_binaural_panel
    from avrepro.media import read_wav

    out_dir = Path(out_dir)
    variants = list(live_dirs if variants is None else variants)
    written = [plot_loss_curves(live_dirs, out_dir / BINAURAL_FIGURES["loss_curves"],
                                "Binaural: training and validation loss")]
    for key in ("stft_distance", "env_distance"):
        written.append(plot_metric_distributions(
            clip_csvs, key, out_dir / BINAURAL_FIGURES["distributions"].format(key=key)))
    for clip in sorted(test_clips):
        true, frames = test_clips[clip]
        true = np.asarray(true, dtype=np.float32)
        preds = {}
        for v in variants:
            wav = require_file(Path(pred_dir) / v / f"{clip}.wav", f"predicted binaural audio of '{v}'")
            audio, rate = read_wav(wav)
            if rate != sample_rate:
                raise ValueError(f"{wav}: sample rate {rate} Hz, expected {sample_rate} Hz")
            preds[v] = audio
        mono = true[0] + true[1]
        written.append(plot_binaural_panel(
            mono, true, preds, sample_rate, out_dir / BINAURAL_FIGURES["spectrograms"].format(clip=clip),
            n_fft=n_fft, hop=hop, title=f"Binaural prediction, test clip {clip}"))
        demos = {"mono": (np.stack([mono, mono]) / 2, "mono input (both ears)"),
                 "true": (true, "true binaural")}
        demos.update({v: (a, f"predicted binaural: {v}") for v, a in preds.items()})
        for what, (audio, caption) in demos.items():
            out = out_dir / BINAURAL_FIGURES["demo"].format(clip=clip, what=what)
            written.append(write_demo_mp4(frames, fps, audio, sample_rate, out, caption=caption))
    return written


__all__ = ["BINAURAL_FIGURES", "DPI", "STYLE", "color_for", "make_binaural_figures", "new_figure",
           "require_file", "save_png", "styled"]
