"""Figures of the spatial task: training curves, the accuracy chart, and viewpoint-alignment maps.

Files under ``reports/figures/spatial/`` (names in :data:`.names.FIGURES`):

- ``loss_curves.png``: per variant, the InfoNCE losses (top) and the in-batch AVC/AVSA
  accuracies (bottom), train solid and validation dashed, from the dvclive logs.
- ``accuracy.png``: AVC-Bin, AVSA-Bin and probe accuracy (mean ± SEM over test clips) of every
  variant and baseline, the chance level drawn as a line.
- ``alignment_summary.png``: per variant, for each direction the audio was turned toward (x),
  the softmax over the M video viewpoints of the ring (y), averaged over the saved test clips; a
  spatially aligned model has its mass on the diagonal.
- ``alignment_<clip>.png``: one test clip's equirect frame with its sources, and under it, on
  the same azimuth axis, each variant's alignment matrix for that clip (dots: the viewpoint the
  alignment metric picks for each audio direction, after double centring).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from avrepro.figures import color_for, new_figure, require_file, save_png, styled
from avrepro.figures.curves import read_live_dir
from avrepro.figures.tables import metric_label, read_metrics
from avrepro.io import read_json
from avrepro.tasks.spatial.downstream import double_centered
from avrepro.tasks.spatial.names import FIGURES, PROBE_KEYS

ACCURACY_KEYS = ("avc_accuracy", "avsa_accuracy", "probe_accuracy", "probe_class_accuracy")
_NAMES = {
    "chance": "chance",
    "random_backbone": "random backbone",
    "avc": "AVC",
    "avsa": "AVSA (no curriculum)",
    "avsa_curriculum": "AVSA (AVC curriculum)",
}
_BASELINE_COLORS = {"chance": "#7f7f7f", "random_backbone": "#bcbd22"}


def _color(name: str, names: list[str]) -> str:
    return _BASELINE_COLORS.get(name) or color_for(name, [n for n in names if n not in _BASELINE_COLORS])


def plot_training(live_dirs: dict[str, Path], out_png: Path) -> Path:
    """Losses (top row) and in-batch accuracies (bottom row) per variant."""
    data = {name: read_live_dir(d) for name, d in live_dirs.items()}
    with styled():
        n = len(data)
        fig = new_figure((max(5.0, 3.4 * n), 5.2))
        axes = np.atleast_2d(fig.subplots(2, n, squeeze=False))
        handles: dict[str, Line2D] = {}
        for col, (name, curves) in enumerate(data.items()):
            for row, want in enumerate((lambda m: not m.startswith("acc"), lambda m: m.startswith("acc"))):
                ax = axes[row, col]
                for q, (metric, per) in enumerate((m, c) for m, c in curves.items() if want(m)):
                    color = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"][q % 4]
                    for split, df in per.items():
                        ls = "-" if split == "train" else "--"
                        ax.plot(df["step"], df["value"], ls, color=color, lw=1.4 if metric == "loss" else 1.0)
                        handles.setdefault(f"{split} {metric}", Line2D([], [], color=color, ls=ls))
                ax.set_xlabel("epoch")
                if row == 0:
                    ax.set_title(_NAMES.get(name, name))
                    ax.set_ylabel("InfoNCE loss" if col == 0 else "")
                else:
                    ax.set_ylim(0, 1)
                    ax.set_ylabel("in-batch accuracy" if col == 0 else "")
        labels = sorted(handles, key=lambda k: (k.split(" ")[1].startswith("acc"), k.split(" ")[1], k))
        fig.legend(
            [handles[k] for k in labels], labels, loc="outside lower center", ncols=min(len(labels), 4)
        )
        fig.suptitle("Spatial: training curves (solid train, dashed validation)", fontweight="bold")
        return save_png(fig, out_png)


def plot_accuracy(metric_files: dict[str, Path], out_png: Path) -> Path:
    """Grouped bars of the accuracies with SEM error bars; chance as horizontal ticks (the probe's
    only on data with the 360 scene's instruments)."""
    names = list(metric_files)
    data = {n: read_metrics(p) for n, p in metric_files.items()}
    bars = [n for n in names if n != "chance"]
    keys = [k for k in ACCURACY_KEYS if any(k in m for m in data.values())] or list(ACCURACY_KEYS)
    probe = any(k in keys for k in PROBE_KEYS)
    with styled():
        fig = new_figure((8.0, 3.6))
        ax = fig.subplots()
        width = 0.8 / max(1, len(bars))
        x = np.arange(len(keys))
        for q, name in enumerate(bars):
            mean = [data[name].get(k, math.nan) for k in keys]
            sem = [data[name].get(f"{k}_sem", 0.0) or 0.0 for k in keys]
            ax.bar(
                x - 0.4 + width * (q + 0.5),
                mean,
                width,
                yerr=sem,
                capsize=2,
                color=_color(name, names),
                label=_NAMES.get(name, name),
            )
        if "chance" in data:
            for j, key in enumerate(keys):
                level = data["chance"].get(key, math.nan)
                ax.plot(
                    [j - 0.45, j + 0.45],
                    [level, level],
                    color="black",
                    ls=":",
                    lw=1.2,
                    label="chance" if j == 0 else None,
                )
        ax.set_xticks(x, [metric_label(k) for k in keys])
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy (mean ± SEM over test clips)")
        ax.legend(loc="upper right", ncols=2)
        ax.set_title(
            "AVC-Bin, AVSA-Bin and the instrument probe (in-clip and 8-way), frozen trunks"
            if probe
            else "AVC-Bin and AVSA-Bin, frozen trunks (no instrument probe: the data has no 360 scene)"
        )
        return save_png(fig, out_png)


def _softmax_columns(sim: np.ndarray, temperature: float = 0.07) -> np.ndarray:
    z = sim / temperature
    z = z - z.max(axis=0, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=0, keepdims=True)


def _load_alignment(pred_dir: Path, variant: str) -> dict[str, tuple[np.ndarray, dict]]:
    out = {}
    for npy in sorted((pred_dir / variant).glob("alignment_*.npy")):
        clip = npy.stem[len("alignment_") :]
        meta = read_json(require_file(npy.with_suffix(".json"), f"alignment meta of {variant}/{clip}"))
        out[clip] = (np.load(npy), meta)
    return out


def plot_alignment_summary(
    aligned: dict[str, dict], temperature: float, out_png: Path, scores: dict[str, dict]
) -> Path:
    """Mean column-softmax alignment matrix per variant."""
    with styled():
        n = len(aligned)
        fig = new_figure((max(4.0, 3.1 * n), 4.0))
        axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)).ravel()
        for ax, (name, clips) in zip(axes, aligned.items(), strict=False):
            mats = [_softmax_columns(sim, temperature) for sim, _ in clips.values()]
            yaws = next(iter(clips.values()))[1]["yaw_deg"]
            mean = np.mean(mats, axis=0)
            m = len(yaws)
            ax.imshow(mean, cmap="viridis", vmin=0, vmax=max(1e-6, float(mean.max())), origin="upper")
            ax.plot([-0.5, m - 0.5], [-0.5, m - 0.5], color="white", lw=0.8, ls=":")
            ticks = list(range(0, m, max(1, m // 4)))
            labels = [f"{yaws[t]:.0f}°" for t in ticks]
            ax.set_xticks(ticks, labels)
            ax.set_yticks(ticks, labels)
            ax.set_xlabel("audio turned toward (azimuth)")
            if ax is axes[0]:
                ax.set_ylabel("video viewpoint (azimuth)")
            s = scores.get(name, {})
            title = _NAMES.get(name, name)
            if "alignment_top1" in s:
                title += f"\ntop-1 {s['alignment_top1']:.2f}, error {s.get('alignment_error', math.nan):.0f}°"
            ax.set_title(title)
            ax.grid(False)
        fig.suptitle(
            f"Which viewpoint each audio direction aligns to (mean of {len(mats)} test clips)",
            fontweight="bold",
        )
        return save_png(fig, out_png)


def _draw_clip_frame(ax, frame: np.ndarray, meta: dict) -> None:
    """The equirect frame with a circle and the class name at each source."""
    ax.imshow(frame, extent=(180, -180, -90, 90), aspect="auto")
    for s in meta["sources"]:
        ax.plot(
            s["azimuth_deg"],
            s["elevation_deg"],
            "o",
            mfc="none",
            mec="white" if s["in_pinhole_view"] else "orange",
            ms=9,
            mew=1.5,
        )
        ax.annotate(
            s["class"],
            (s["azimuth_deg"], s["elevation_deg"]),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            color="white",
            fontsize=7,
        )
    ax.set_xlim(180, -180)
    ax.set_ylabel("elevation")
    ax.set_title(
        f"Test clip {meta['clip_id']}: 360 frame (white: in the pinhole view, orange: around the listener)",
        fontsize=9,
    )
    ax.grid(False)


def _draw_clip_matrix(
    ax, name: str, sim: np.ndarray, yaws: np.ndarray, step: float, meta: dict, temperature: float
) -> None:
    """One variant's softmaxed alignment matrix, its metric's picks and the source azimuths."""
    prob = _softmax_columns(sim, temperature)
    ax.imshow(
        prob,
        extent=(yaws[0] + step / 2, yaws[-1] - step / 2, yaws[-1] - step / 2, yaws[0] + step / 2),
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
    )
    best = yaws[double_centered(sim).argmax(0)]  # the metric's choice (see downstream)
    ax.plot(yaws, best, "w.", ms=5)
    for s in meta["sources"]:
        ax.axvline(s["azimuth_deg"], color="orange", lw=0.8, ls=":")
    ax.set_xlim(180, -180)
    ax.set_ylim(-180, 180)
    ax.set_ylabel(f"{_NAMES.get(name, name)}\nvideo azimuth", fontsize=8)
    ax.grid(False)


def plot_alignment_clip(
    frame: np.ndarray, meta: dict, sims: dict[str, np.ndarray], temperature: float, out_png: Path
) -> Path:
    """The clip's equirect frame with its sources, and each variant's matrix on the same azimuths."""
    h, w = frame.shape[:2]
    yaws = np.asarray(meta["yaw_deg"])
    m = len(yaws)
    with styled():
        n = len(sims)
        fig = new_figure((6.4, 2.2 + 1.9 * n))
        axes = np.atleast_1d(fig.subplots(1 + n, 1, squeeze=False)).ravel()
        _draw_clip_frame(axes[0], frame, meta)
        step = 360.0 / m
        for ax, (name, sim) in zip(axes[1:], sims.items(), strict=True):
            _draw_clip_matrix(ax, name, sim, yaws, step, meta, temperature)
        axes[-1].set_xlabel("azimuth the audio is turned toward (same axis as the frame)")
        return save_png(fig, out_png)


def make_figures(
    cfg: dict, test_cache, models_dir: Path, metrics_dir: Path, predictions_dir: Path, out_dir: Path
) -> list[Path]:
    """Every spatial figure (see the module docstring) into ``out_dir``."""
    out_dir, models_dir = Path(out_dir), Path(models_dir)
    metrics_dir, predictions_dir = Path(metrics_dir), Path(predictions_dir)
    variants, baselines = list(cfg["variants"]), list(cfg["baselines"])
    temperature = float((cfg.get("model") or {}).get("temperature", 0.07))  # display softmax only
    written = [
        plot_training({v: models_dir / v / "live" for v in variants}, out_dir / FIGURES["loss_curves"])
    ]
    files = {
        n: require_file(metrics_dir / f"spatial_{n}.json", f"spatial metrics of '{n}'")
        for n in baselines + variants
    }
    written.append(plot_accuracy(files, out_dir / FIGURES["accuracy"]))
    aligned = {v: _load_alignment(predictions_dir, v) for v in variants}
    aligned = {v: a for v, a in aligned.items() if a}
    if aligned:
        scores = {v: read_metrics(files[v]) for v in aligned}
        written.append(
            plot_alignment_summary(aligned, temperature, out_dir / FIGURES["alignment_summary"], scores)
        )
        common = sorted(set.intersection(*(set(a) for a in aligned.values())))
        for clip in common[:2]:
            i = test_cache.position(clip)
            frames = test_cache.frames(i)
            meta = aligned[next(iter(aligned))][clip][1]
            sims = {v: aligned[v][clip][0] for v in aligned}
            written.append(
                plot_alignment_clip(
                    np.asarray(frames[len(frames) // 2]),
                    meta,
                    sims,
                    temperature,
                    out_dir / FIGURES["alignment_clip"].format(clip=clip),
                )
            )
    return written
