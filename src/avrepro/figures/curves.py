"""Training curves from dvclive logs (``<live>/plots/metrics/{train,val}/*.tsv``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from avrepro.figures import new_figure, require_file, save_png, styled

SPLITS = ("train", "val")
_LINESTYLE = {"train": "-", "val": "--"}
_METRIC_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def read_dvclive_tsv(path: str | Path) -> pd.DataFrame:
    """Read one dvclive metric TSV as a frame with columns ``step`` and ``value``.

    Accepts ``step<TAB>name`` and dvclive's ``timestamp<TAB>step<TAB>name``; a step logged
    twice (a resumed run) keeps its last value. Raises ``ValueError`` naming the file.
    """
    path = require_file(path, "dvclive metric log")
    try:
        df = pd.read_csv(path, sep="\t")
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty metric log (no header)") from None
    except Exception as exc:
        raise ValueError(f"{path}: unreadable metric log ({exc})") from None
    value_cols = [c for c in df.columns if c not in ("step", "timestamp")]
    if path.stem in df.columns:
        value_col = path.stem
    elif len(value_cols) == 1:
        value_col = value_cols[0]
    else:
        raise ValueError(f"{path}: expected columns 'step' and '{path.stem}', got {list(df.columns)}")
    steps = df["step"] if "step" in df.columns else pd.Series(np.arange(len(df)))
    out = pd.DataFrame(
        {
            "step": pd.to_numeric(steps, errors="coerce"),
            "value": pd.to_numeric(df[value_col], errors="coerce"),
        }
    ).dropna()
    out = out.drop_duplicates("step", keep="last").sort_values("step", kind="stable")
    return out.reset_index(drop=True)


def _metrics_root(live_dir: Path) -> Path:
    for cand in (live_dir / "plots" / "metrics", live_dir / "live" / "plots" / "metrics"):
        if cand.is_dir():
            return cand
    return live_dir / "plots" / "metrics"


def read_live_dir(live_dir: str | Path) -> dict[str, dict[str, pd.DataFrame]]:
    """All curves of one dvclive directory: ``{metric: {"train": df, "val": df}}``.

    ``loss`` comes first, then component losses in name order. The training loss log
    (``plots/metrics/train/loss.tsv``) is required; validation logs are optional.
    """
    live_dir = Path(live_dir)
    root = _metrics_root(live_dir)
    require_file(root / "train" / "loss.tsv", "training loss log")
    curves: dict[str, dict[str, pd.DataFrame]] = {}
    for split in SPLITS:
        base = root / split
        if not base.is_dir():
            continue
        for tsv in sorted(base.rglob("*.tsv")):
            name = tsv.relative_to(base).with_suffix("").as_posix()
            df = read_dvclive_tsv(tsv)
            if len(df):
                curves.setdefault(name, {})[split] = df
    if "train" not in curves.get("loss", {}):
        raise ValueError(f"{root / 'train' / 'loss.tsv'}: training loss log has no finite values")
    return dict(sorted(curves.items(), key=lambda kv: (kv[0] != "loss", kv[0])))


def plot_loss_curves(live_dirs: dict[str, Path], out_png: str | Path, title: str = "Training curves") -> Path:
    """One panel per model: train (solid) and val (dashed) losses vs epoch, shared legend.

    Args:
        live_dirs: model name -> its dvclive directory (``models/<task>/<variant>/live``).
        out_png: the PNG to write.
        title: the figure title.
    Returns:
        ``out_png``. The y-axis is logarithmic when the plotted values span more than 10x;
        the best validation epoch of the total loss is starred.
    """
    if not live_dirs:
        raise ValueError(f"{out_png}: no training logs given")
    data = {name: read_live_dir(d) for name, d in live_dirs.items()}
    metric_names: list[str] = []
    for curves in data.values():
        metric_names += [m for m in curves if m not in metric_names]
    metric_names.sort(key=lambda m: (m != "loss", m))
    colors = {m: _METRIC_COLORS[i % len(_METRIC_COLORS)] for i, m in enumerate(metric_names)}
    log_y = _wants_log_scale(data)
    n = len(data)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    with styled():
        width = max(5.2, 3.6 * ncols + 0.4)
        fig = new_figure((width, 2.7 * nrows + 0.7))
        axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
        handles: dict[str, object] = {}
        for ax, (name, curves) in zip(axes, data.items(), strict=False):
            _draw_panel(ax, name, curves, colors, handles, log_y)
        for i, ax in enumerate(axes):
            if i % ncols == 0:
                ax.set_ylabel("loss" + (" (log scale)" if log_y else ""))
            if i >= n:
                ax.set_visible(False)
        order = [f"{s} {m}" for m in metric_names for s in SPLITS] + ["best val loss"]
        labels = [k for k in order if k in handles]
        fig.legend(
            [handles[k] for k in labels],
            labels,
            loc="outside lower center",
            ncols=min(len(labels), max(1, int(width / 1.3))),
        )
        fig.suptitle(title, fontweight="bold")
        return save_png(fig, out_png)


def _wants_log_scale(data: dict[str, dict]) -> bool:
    """Log y when every plotted value is positive and they span more than 10x."""
    values = np.concatenate(
        [df["value"].to_numpy() for c in data.values() for per in c.values() for df in per.values()]
    )
    positive = values[values > 0]
    return bool(len(positive) == len(values) and positive.max() > 10 * positive.min())


def _draw_panel(ax, name: str, curves: dict, colors: dict, handles: dict, log_y: bool) -> None:
    """One model's curves (train solid, val dashed), its best validation epoch starred."""
    for metric, per_split in curves.items():
        for split, df in per_split.items():
            few = len(df) <= 25
            (line,) = ax.plot(
                df["step"],
                df["value"],
                _LINESTYLE[split],
                color=colors[metric],
                lw=1.5 if metric == "loss" else 1.0,
                marker="o" if few else None,
                ms=3 if len(df) > 1 else 5,
            )
            handles.setdefault(
                f"{split} {metric}",
                Line2D([], [], color=line.get_color(), ls=_LINESTYLE[split], lw=line.get_linewidth()),
            )
    val = curves["loss"].get("val")
    if val is not None:
        best = val.loc[val["value"].idxmin()]
        (star,) = ax.plot([best["step"]], [best["value"]], "*", color="black", ms=9, zorder=5, ls="none")
        handles.setdefault("best val loss", star)
    steps = np.concatenate([df["step"].to_numpy() for per in curves.values() for df in per.values()])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if steps.max() - steps.min() < 1:  # a single epoch: one tick, centred
        ax.set_xlim(steps.min() - 0.5, steps.max() + 0.5)
        ax.set_xticks(np.unique(steps))
    ax.set_title(name)
    ax.set_xlabel("epoch")
    if log_y:
        ax.set_yscale("log")
