"""Figures of the sync task: training curves, the accuracy table as bars, accuracy by shift size,
and CAM overlays (PNG and mp4) of the best and worst test clips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw
from scipy.signal import resample_poly

from avrepro.data.cache import FeatureCache
from avrepro.figures import color_for, new_figure, require_file, save_png, styled
from avrepro.figures.curves import read_live_dir
from avrepro.figures.demo import write_demo_mp4
from avrepro.figures.tables import fmt_mean_sem, markdown_table, read_metrics
from avrepro.io import read_json, write_text
from avrepro.tasks.sync.cam import display_map, heatmap, upsample, window_boxes
from avrepro.tasks.sync.names import BASELINES, FIGURES, PAPER_ACCURACY, SHORTCUT_VARIANTS

MIN_WIDTH = 256  # CAM overlays are drawn on frames upscaled by an integer factor to this width
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

# baselines grey, the shortcut variants muted (audio_only olive, video_only brown)
_COLOURS = {
    **dict.fromkeys(BASELINES, "#7f7f7f"),
    **dict(zip(SHORTCUT_VARIANTS, ("#bcbd22", "#8c564b"), strict=True)),
}


def colour(name: str, names: list[str]) -> str:
    """Baseline grey, shortcut variants muted, models from the report's palette."""
    return _COLOURS.get(name) or color_for(name, [n for n in names if n not in _COLOURS])


def main_variant(variants: list[str]) -> str:
    """The model whose CAMs are shown: the first variant that is not a shortcut variant."""
    models = [v for v in variants if v not in SHORTCUT_VARIANTS]
    return models[0] if models else variants[0]


def shown_order(variants: list[str], baselines: list[str]) -> list[str]:
    """Rows of the tables and bars: baselines, the models, then the shortcut variants."""
    return (
        list(baselines)
        + [v for v in variants if v not in SHORTCUT_VARIANTS]
        + [v for v in variants if v in SHORTCUT_VARIANTS]
    )


def plot_curves(live_dirs: dict[str, Path], out_png: Path) -> Path:
    """Loss (top) and accuracy (bottom) per variant, train solid and val dashed, chance dotted."""
    data = {name: read_live_dir(d) for name, d in live_dirs.items()}
    n = len(data)
    with styled():
        fig = new_figure((max(5.0, 3.3 * n + 0.6), 5.2))
        axes = np.atleast_2d(fig.subplots(2, n, sharex="col", squeeze=False))
        for col, (name, curves) in enumerate(data.items()):
            for row, metric in enumerate(("loss", "accuracy")):
                ax = axes[row, col]
                for split, style in (("train", "-"), ("val", "--")):
                    df = curves.get(metric, {}).get(split)
                    if df is not None:
                        ax.plot(
                            df["step"],
                            df["value"],
                            style,
                            marker="o",
                            ms=2.5,
                            color="#1f77b4" if split == "train" else "#ff7f0e",
                            label=split,
                        )
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                steps = [df["step"] for df in curves.get(metric, {}).values()]
                if steps and max(x.max() for x in steps) == min(x.min() for x in steps):
                    ax.set_xlim(steps[0].min() - 0.5, steps[0].min() + 0.5)  # a single epoch
                if metric == "accuracy":
                    ax.axhline(0.5, ls=":", color="grey", lw=1, label="chance")
                    ax.set_ylim(0.35, 1.02)
                    ax.set_xlabel("epoch")
                else:
                    ax.set_title(name)
                if col == 0:
                    ax.set_ylabel("BCE loss" if metric == "loss" else "accuracy")
        handles, labels = axes[1, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3)
        fig.suptitle("Sync: training curves (train solid, validation dashed)", fontweight="bold")
        return save_png(fig, out_png)


def scored_against_boxes(metrics: dict[str, dict]) -> bool:
    """Whether the run's CAMs were scored against source boxes (the simulator's data has them)."""
    return any(math.isfinite(m.get("map_mass_in_box", math.nan)) for m in metrics.values())


def plot_accuracy(metrics: dict[str, dict], out_png: Path) -> Path:
    """Accuracy with 95 % CIs over test clips (chance line, the paper's number for reference),
    and the CAM localization scores against the boxes' share of the frame (on data with boxes)."""
    boxes = scored_against_boxes(metrics)
    with styled():
        if boxes:
            fig = new_figure((9.6, 3.6))
            ax, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1])
            _localization_panel(ax2, metrics)
        else:
            fig = new_figure((5.2, 3.6))
            ax = fig.subplots()
        _accuracy_panel(ax, metrics)
        title = "Sync: test accuracy and CAM localization" if boxes else "Sync: test accuracy"
        fig.suptitle(title, fontweight="bold")
        return save_png(fig, out_png)


def _accuracy_panel(ax, metrics: dict[str, dict]) -> None:
    """Accuracy bars with their 95 % CIs, then the paper's number (hatched), chance dotted."""
    names = list(metrics)
    labels = names + ["paper\n(AudioSet)"]
    x = np.arange(len(labels))
    for i, name in enumerate(names):
        m = metrics[name]
        acc = m.get("accuracy", math.nan)
        lo, hi = m.get("accuracy_ci_low", acc), m.get("accuracy_ci_high", acc)
        ax.bar(i, acc, color=colour(name, names), width=0.65)
        ax.errorbar(i, acc, yerr=[[acc - lo], [hi - acc]], color="black", capsize=3, lw=1)
        ax.text(i, hi + 0.015, f"{100 * acc:.1f}", ha="center", va="bottom", fontsize=8)
    ax.bar(len(names), PAPER_ACCURACY, color="white", edgecolor="grey", hatch="//", width=0.65)
    ax.text(
        len(names),
        PAPER_ACCURACY + 0.015,
        f"{100 * PAPER_ACCURACY:.1f}",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    ax.axhline(0.5, ls=":", color="grey", lw=1)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (95 % CI over test clips)")
    ax.set_title("In sync or shifted?")


def _localization_panel(ax, metrics: dict[str, dict]) -> None:
    """CAM and contrast localization scores (± SEM) of every row with a CAM, and the box share."""
    loc = [n for n in metrics if math.isfinite(metrics[n].get("map_mass_in_box", math.nan))]
    bars = [
        ("map_mass_in_box", "CAM mass in box", "#2ca02c"),
        ("pointing_accuracy", "CAM pointing game", "#9467bd"),
        ("contrast_mass_in_box", "contrast mass in box", "#98df8a"),
        ("contrast_pointing_accuracy", "contrast pointing", "#c5b0d5"),
        ("box_share", "box share (chance)", "#bbbbbb"),
    ]
    bars = [b for b in bars if any(b[0] in metrics[n] for n in loc)]
    width = 0.8 / len(bars)
    for j, (key, label, bar_colour) in enumerate(bars):
        vals = [metrics[n].get(key, math.nan) for n in loc]
        sems = [metrics[n].get(f"{key}_sem", 0.0) for n in loc]
        ax.bar(
            np.arange(len(loc)) + (j - (len(bars) - 1) / 2) * width,
            vals,
            width,
            yerr=sems,
            capsize=1.5,
            color=bar_colour,
            label=label,
            error_kw={"lw": 0.7},
        )
    ax.set_xticks(np.arange(len(loc)), loc)
    ax.set_ylim(0, 1.05)
    ax.set_title("Where is the sound? (CAM vs true boxes)")
    ax.legend(loc="upper right", fontsize=7)


def write_accuracy_table(
    metrics: dict[str, dict], variants: list[str], out_md: Path, out_csv: Path
) -> list[Path]:
    """The accuracy table: every model, shortcut variant and baseline of this run (mean ± SEM, 95 % CI,
    clips), then chance (50 %) and the paper's number on its own data, for reference."""
    header = ["model", "kind", "accuracy (mean ± SEM)", "95 % CI over clips", "pair accuracy", "clips"]
    rows, csv = [], ["model,kind,accuracy,accuracy_sem,ci_low,ci_high,pair_accuracy,n_clips"]
    for name, m in metrics.items():
        # the table keeps its label "control" for a shortcut variant
        kind = "control" if name in SHORTCUT_VARIANTS else "model" if name in variants else "baseline"
        acc, sem = m.get("accuracy", math.nan), m.get("accuracy_sem", math.nan)
        lo, hi = m.get("accuracy_ci_low", math.nan), m.get("accuracy_ci_high", math.nan)
        pair = m.get("pair_accuracy", math.nan)
        rows.append(
            [
                name,
                kind,
                fmt_mean_sem(100 * acc, 100 * sem, 1) + " %",
                f"{100 * lo:.1f}–{100 * hi:.1f} %" if math.isfinite(lo) else "–",
                f"{100 * pair:.1f} %" if math.isfinite(pair) else "–",
                str(m.get("n_clips", "–")),
            ]
        )
        csv.append(f"{name},{kind},{acc:.6g},{sem:.6g},{lo:.6g},{hi:.6g},{pair:.6g},{m.get('n_clips', '')}")
    rows.append(["chance level (theory)", "reference", "50.0 %", "–", "50.0 %", "–"])
    rows.append(
        [
            "Multisensory, paper (AudioSet, not comparable)",
            "reference",
            f"{100 * PAPER_ACCURACY:.1f} %",
            "–",
            "–",
            "–",
        ]
    )
    csv += ["chance (theory),reference,0.5,,,,0.5,", f"paper (AudioSet),reference,{PAPER_ACCURACY},,,,,"]
    write_text(out_md, markdown_table(header, rows, ["l", "l", "r", "r", "r", "r"]))
    write_text(out_csv, "\n".join(csv) + "\n")
    return [Path(out_md), Path(out_csv)]


def plot_by_shift(tables: dict[str, dict], out_png: Path) -> Path:
    """Accuracy (both tracks of a pair) against the shift size, one line per model."""
    names = list(tables)
    with styled():
        fig = new_figure((5.6, 3.4))
        ax = fig.subplots()
        for name, table in tables.items():
            rows = table["rows"]
            ax.plot(
                [r["shift_s"] for r in rows],
                [r["accuracy"] for r in rows],
                "-o",
                ms=3,
                color=colour(name, names),
                label=name,
            )
        ax.axhline(0.5, ls=":", color="grey", lw=1, label="chance")
        ax.set_xlabel("|audio shift| of the negative (s)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0.3, 1.02)
        ax.legend()
        ax.set_title("Sync: accuracy by shift size", fontweight="bold")
        return save_png(fig, out_png)


def overlay(frames: np.ndarray, maps: np.ndarray, alpha: float = 0.65) -> np.ndarray:
    """Blend ``(T, H, W)`` heat maps in [0, 1] over ``(T, H, W, 3)`` uint8 frames."""
    from matplotlib import colormaps

    norm = np.clip(maps, 0, 1)
    colour = colormaps["inferno"](norm)[..., :3] * 255.0
    a = alpha * norm[..., None]
    return np.clip(frames * (1 - a) + colour * a + 0.5, 0, 255).astype(np.uint8)


def aac_rate(audio: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """Resample ``(N,)`` audio to the lowest AAC sample rate at or above ``rate`` (AAC has a fixed
    set: the paper's 21 kHz is not in it)."""
    if rate in AAC_RATES:
        return audio, rate
    target = min([r for r in AAC_RATES if r >= rate] or [max(AAC_RATES)])
    g = math.gcd(int(rate), target)
    return resample_poly(audio, target // g, int(rate) // g).astype(np.float32), target


def _upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    return np.stack(
        [
            np.asarray(Image.fromarray(f).resize((w * scale, h * scale), Image.Resampling.BICUBIC))
            for f in frames
        ]
    )


def _boxed(img: np.ndarray, boxes: list[list[int]]) -> np.ndarray:
    """``img`` with the true boxes drawn in cyan."""
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for b in boxes:
        draw.rectangle([b[0], b[1], b[2] - 1, b[3] - 1], outline=(0, 255, 255), width=2)
    return np.asarray(pil)


def cam_figures(
    test: FeatureCache, entry: dict, cams: np.ndarray, variant: str, role: str, out_dir: Path
) -> list[Path]:
    """PNG and mp4 of one test window's CAM (``cams`` ``(2, T, h, w)``: with the aligned and with
    the shifted track). PNG: frames with the time-resolved |CAM| of the aligned track, |CAM| over
    time, and the contrast |CAM(aligned) - CAM(shifted)| over time, with the true boxes. mp4: the
    overlay with the window's in-sync audio. Maps are displayed as the official code does."""
    cams = np.asarray(cams)
    if cams.ndim == 3:
        cams = cams[None]
    cam = cams[0]
    clip, start, n = entry["clip_id"], int(entry["video_start"]), int(entry["frames"])
    i = test.position(clip)
    frames = np.asarray(test.frames(i)[start : start + n])
    frames = _upscale(frames, max(1, math.ceil(MIN_WIDTH / frames.shape[2])))
    _, hh, ww, _ = frames.shape
    boxes = window_boxes(test.meta(i) or {}, start, n, (ww, hh))
    over = overlay(frames, display_map(upsample(np.abs(cam), (n, hh, ww))))
    panels = [("|CAM| over time" + (", true boxes" if boxes else ""), heatmap(cam))]
    if len(cams) > 1:
        panels.append(("|CAM(aligned) - CAM(shifted)|", heatmap(cam - cams[1])))
    mid = frames[n // 2][None]
    panels = [
        (title, _boxed(overlay(mid, display_map(upsample(m, (hh, ww)))[None])[0], boxes))
        for title, m in panels
    ]
    what = f"{role} test clip {clip}: accuracy {100 * entry['accuracy']:.0f} %"
    mass = entry.get("map_mass_in_box")
    if mass is not None and math.isfinite(mass):
        what += f", CAM mass in the boxes {100 * mass:.0f} % (this window)"
    png = _cam_png(
        over,
        panels,
        start,
        test.fps,
        f"Sync CAM ({variant}), {what}",
        out_dir / FIGURES["cam_png"].format(role=role, clip=clip),
    )
    a0, na = int(entry["audio_start"]), int(entry["audio_samples"])
    mono, rate = aac_rate(test.audio_float(i)[:, a0 : a0 + na].mean(axis=0), test.sample_rate)
    mp4 = write_demo_mp4(
        over,
        test.fps,
        np.stack([mono, mono]),
        rate,
        out_dir / FIGURES["cam_mp4"].format(role=role, clip=clip),
        caption=f"CAM of '{variant}' with the in-sync audio ({role} clip)",
    )
    return [png, mp4]


def _cam_png(
    over: np.ndarray, panels: list[tuple[str, np.ndarray]], start: int, fps: float, title: str, out_png: Path
) -> Path:
    """Up to four overlay frames of the window (``over`` ``(T, H, W, 3)``, from frame ``start``)
    followed by the ``(title, image)`` panels."""
    n = len(over)
    shown = np.linspace(0, n - 1, min(n, 4)).round().astype(int)
    with styled():
        fig = new_figure((2.2 * (len(shown) + len(panels)), 1.9))
        axes = fig.subplots(1, len(shown) + len(panels))
        for ax, t in zip(axes, shown, strict=False):
            ax.imshow(over[t])
            ax.set_title(f"t = {(start + t) / fps:.1f} s", fontsize=8)
        for ax, (name, img) in zip(axes[len(shown) :], panels, strict=True):
            ax.imshow(img)
            ax.set_title(name, fontsize=8)
        for ax in axes:
            ax.set_axis_off()
        fig.suptitle(title, fontsize=9)
        return save_png(fig, out_png)


def make_figures(
    cfg: dict,
    test_cache: FeatureCache,
    models_dir: Path,
    metrics_dir: Path,
    predictions_dir: Path,
    out_dir: Path,
) -> list[Path]:
    """Every sync figure into ``out_dir`` (names in ``FIGURES``); returns the paths written."""
    out_dir, models_dir = Path(out_dir), Path(models_dir)
    metrics_dir, predictions_dir = Path(metrics_dir), Path(predictions_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    variants, baselines = list(cfg["variants"]), list(cfg.get("baselines", []))
    written = [plot_curves({v: models_dir / v / "live" for v in variants}, out_dir / FIGURES["curves"])]
    names = shown_order(variants, baselines)
    metrics = {
        n: read_metrics(require_file(metrics_dir / f"sync_{n}.json", f"metrics of '{n}'")) for n in names
    }
    written.append(plot_accuracy(metrics, out_dir / FIGURES["accuracy"]))
    written += write_accuracy_table(
        metrics, variants, out_dir / FIGURES["table_md"], out_dir / FIGURES["table_csv"]
    )
    tables = {
        v: read_json(
            require_file(predictions_dir / v / "accuracy_by_shift.json", f"accuracy by shift of '{v}'")
        )
        for v in variants
    }
    written.append(plot_by_shift(tables, out_dir / FIGURES["by_shift"]))
    model = main_variant(variants)
    index = read_json(require_file(predictions_dir / model / "cams.json", f"CAM index of '{model}'"))
    for role in sorted(index):
        entry = index[role]
        cam = np.load(require_file(predictions_dir / model / entry["file"], f"CAM of '{model}'"))
        written += cam_figures(test_cache, entry, cam, model, role, out_dir)
    return written
