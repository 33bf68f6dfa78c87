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
from collections.abc import Iterator
from pathlib import Path

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
_NAMED_COLORS = {
    "mono_mono": "#7f7f7f",
    "audio_only": "#bcbd22",
    "mixture": "#7f7f7f",
    "flipped_visual": "#8c564b",
}
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


__all__ = ["DPI", "STYLE", "color_for", "new_figure", "require_file", "save_png", "styled"]
