"""Figures of the separation task (reports/figures/separation/).

- ``loss_curves.png``: training and validation loss per variant (dvclive logs).
- ``metrics.png``: SDR / SIR / SAR (mean ± SEM) of every variant and baseline, with the
  mixture's SDR as a reference line; ``sdr_clips.png``: per-mixture SDR distributions.
- ``spectrograms_<variant>_mix<k>.png``: per saved test mixture, one row per source: the
  mixture, the true source, the separated source (log-magnitude), the ideal binary mask and the
  predicted mask.
- ``audio_<variant>_mix<k>_{mixture,true<n>,est<n>}.wav``: the separated audio examples.
- ``localization_<variant>_mix<k>.png``: each video's frame with its sound map and true box.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle

from avrepro.data.cache import FeatureCache
from avrepro.figures import color_for, new_figure, require_file, save_png, styled
from avrepro.figures.curves import plot_loss_curves
from avrepro.figures.demo import plot_metric_distributions
from avrepro.figures.spectrograms import log_spectrogram
from avrepro.figures.tables import metric_label, read_metrics
from avrepro.io import read_json
from avrepro.media import read_wav, write_wav
from avrepro.metrics.localization import mass_in_box, pointing_hit
from avrepro.tasks.separation.data import denormalize, eval_frames
from avrepro.tasks.separation.names import FIGURES, SEPARATION_KEYS

BAR_KEYS = SEPARATION_KEYS[:3]  # sdr, sir, sar (the mixture's SDR is the reference line)


def plot_metric_bars(
    metrics: dict[str, dict], out_png: str | Path, title: str = "Separation on the test mixtures"
) -> Path:
    """Grouped bars: SDR, SIR, SAR (mean ± SEM) per model or baseline; dashed line = the
    mixture's SDR (the same test mixtures for every row). The ``mixture`` baseline's SAR is left
    out: with no artifacts at all it is unbounded (~140 dB) and would flatten every other bar."""
    names = list(metrics)
    with styled():
        fig = new_figure((max(5.0, 1.2 * len(names) + 2.5), 3.6))
        ax = fig.subplots()
        width = 0.8 / len(names)
        x = np.arange(len(BAR_KEYS))
        for j, name in enumerate(names):
            m = metrics[name]
            shown = [k for k in BAR_KEYS if not (name == "mixture" and k == "sar")]
            vals = [m.get(k, math.nan) if k in shown else math.nan for k in BAR_KEYS]
            errs = [m.get(f"{k}_sem", 0.0) if k in shown else 0.0 for k in BAR_KEYS]
            ax.bar(
                x - 0.4 + width * (j + 0.5),
                vals,
                width,
                yerr=errs,
                capsize=2,
                color=color_for(name, names),
                label=name,
            )
        mix = [m["sdr_mixture"] for m in metrics.values() if math.isfinite(m.get("sdr_mixture", math.nan))]
        if mix:
            ax.axhline(
                float(np.mean(mix)),
                color="black",
                ls="--",
                lw=1,
                label=f"SDR of the mixture ({np.mean(mix):.1f} dB)",
            )
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(x, [metric_label(k) for k in BAR_KEYS])
        ax.set_ylabel("dB (higher is better)")
        ax.grid(axis="x", visible=False)
        fig.legend(loc="outside right upper")
        ax.set_title(title, fontweight="bold")
        return save_png(fig, out_png)


def _spec_db(x: np.ndarray, acfg: dict) -> np.ndarray:
    return log_spectrogram(x, acfg["n_fft"], acfg["hop"])


def _panel_spectra(
    mixture: np.ndarray, trues: list[np.ndarray], ests: list[np.ndarray], acfg: dict
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], float, np.ndarray]:
    """The dB spectrograms of the mixture, true and separated sources, the top dB of the mixture
    and true sources, and the ideal binary masks (where each true source dominates)."""
    mix_db = _spec_db(mixture, acfg)
    true_db = [_spec_db(t, acfg) for t in trues]
    est_db = [_spec_db(e, acfg) for e in ests]
    top = float(max(mix_db.max(), *(t.max() for t in true_db)))
    mags = np.stack([np.power(10.0, t / 20.0) for t in true_db])
    ibm = (mags >= mags.max(axis=0, keepdims=True)).astype(np.float32)
    return mix_db, true_db, est_db, top, ibm


def plot_separation_panel(
    mixture: np.ndarray,
    trues: list[np.ndarray],
    ests: list[np.ndarray],
    masks: np.ndarray,
    labels: list[str],
    acfg: dict,
    sample_rate: int,
    out_png: str | Path,
    title: str,
    dynamic_range_db: float = 80.0,
) -> Path:
    """One row per source: mixture, true source, separated source (dB, one colour scale), the
    ideal binary mask (the source dominates the others) and the predicted mask (linear axis)."""
    mix_db, true_db, est_db, top, ibm = _panel_spectra(mixture, trues, ests, acfg)
    extent = (0.0, len(mixture) / sample_rate, 0.0, sample_rate / 2000.0)
    n = len(trues)
    cols = [
        ("mixture", None),
        ("true source", None),
        ("separated", None),
        ("ideal binary mask", None),
        ("predicted mask", None),
    ]
    with styled():
        fig = new_figure((12.0, 2.1 * n + 0.8))
        axes = np.atleast_2d(fig.subplots(n, len(cols), sharex=True, sharey=True, squeeze=False))
        for r in range(n):
            panels = [mix_db, true_db[r], est_db[r], ibm[r], masks[r]]
            for c, (img, (name, _)) in enumerate(zip(panels, cols, strict=False)):
                ax = axes[r, c]
                if c < 3:
                    im_db = ax.imshow(
                        img,
                        origin="lower",
                        aspect="auto",
                        extent=extent,
                        cmap="magma",
                        vmin=top - dynamic_range_db,
                        vmax=top,
                    )
                else:
                    im_mask = ax.imshow(
                        img, origin="lower", aspect="auto", extent=extent, cmap="gray", vmin=0, vmax=1
                    )
                ax.grid(False)
                if r == 0:
                    ax.set_title(name)
                if c == 0:
                    ax.set_ylabel(f"{labels[r]}\nkHz")
                if r == n - 1:
                    ax.set_xlabel("s")
        fig.colorbar(im_db, ax=axes[:, :3].ravel().tolist(), label="dB", shrink=0.8)
        fig.colorbar(im_mask, ax=axes[:, 3:].ravel().tolist(), label="mask", shrink=0.8)
        fig.suptitle(title, fontweight="bold")
        return save_png(fig, out_png)


def plot_localization(
    frames: list[np.ndarray],
    maps: np.ndarray,
    boxes: list[list[int] | None],
    labels: list[str],
    out_png: str | Path,
    title: str,
) -> Path:
    """Each video's frame (as the net saw it) with its sound map (bilinear, alpha-blended) and
    the true box; the map's maximum is starred and the panel says hit/miss and mass in box (on
    data without boxes: the map and its maximum only)."""
    n = len(frames)
    h, w = frames[0].shape[:2]
    up = (
        F.interpolate(
            torch.from_numpy(np.asarray(maps, dtype=np.float32))[:, None],
            size=(h, w),
            mode="bilinear",
            align_corners=False,
        )[:, 0]
        .clamp_min(0)
        .numpy()
    )
    with styled():
        fig = new_figure((3.4 * n + 0.6, 3.4 * h / w + 1.0))
        axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)).ravel()
        for ax, frame, heat, box, label in zip(axes, frames, up, boxes, labels, strict=False):
            ax.imshow(frame, extent=(0, w, h, 0))
            im = ax.imshow(
                heat,
                extent=(0, w, h, 0),
                cmap="jet",
                alpha=0.45,
                vmin=float(heat.min()),
                vmax=float(heat.max()) + 1e-12,
            )
            y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
            ax.plot([x + 0.5], [y + 0.5], "*", color="white", ms=10, mec="black", mew=0.6)
            ax.set_title(_box_title(ax, heat, box, label))
            ax.set_axis_off()
        fig.colorbar(im, ax=axes.tolist(), label="share of the mixture's energy (per pixel)", shrink=0.8)
        fig.suptitle(title, fontweight="bold")
        return save_png(fig, out_png)


def _box_title(ax, heat: np.ndarray, box: list[int] | None, label: str) -> str:
    """Draw the true ``box`` on ``ax``; the panel's title: the pointing game's verdict and the
    map's mass in the box, or the label alone without a box."""
    if box is None:
        return label
    x0, y0, x1, y1 = box
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="white", lw=1.5))
    hit = "hit" if pointing_hit(heat, box) else "miss"
    return f"{label}: {hit}, mass in box {100 * mass_in_box(heat, box):.0f} %"


def _wav(path: Path, rate: int) -> np.ndarray:
    audio, got = read_wav(require_file(path, "separation prediction"))
    if got != rate:
        raise ValueError(f"{path}: sample rate {got} Hz, expected {rate} Hz")
    return audio[0] if audio.ndim == 2 else audio


def make_figures(
    cfg: dict,
    test_cache: FeatureCache,
    models_dir: Path,
    metrics_dir: Path,
    predictions_dir: Path,
    out_dir: Path,
) -> list[Path]:
    """Every separation figure (see the module docstring) into ``out_dir``; returns the paths."""
    models_dir, metrics_dir = Path(models_dir), Path(metrics_dir)
    predictions_dir, out_dir = Path(predictions_dir), Path(out_dir)
    variants, baselines = list(cfg["variants"]), list(cfg["baselines"])
    names = baselines + [v for v in variants if v not in baselines]
    written = []
    if variants:
        written.append(
            plot_loss_curves(
                {v: models_dir / v / "live" for v in variants},
                out_dir / FIGURES["loss_curves"],
                "Separation: training and validation loss",
            )
        )
    metrics = {
        n: read_metrics(require_file(metrics_dir / f"separation_{n}.json", "metric file")) for n in names
    }
    written.append(plot_metric_bars(metrics, out_dir / FIGURES["metrics"]))
    written.append(
        plot_metric_distributions(
            {n: metrics_dir / f"separation_{n}_clips.csv" for n in names},
            "sdr",
            out_dir / FIGURES["distributions"],
            title="Per-mixture SDR on the test set",
        )
    )
    for variant in variants:
        pred = predictions_dir / variant
        for desc_path in sorted(pred.glob("mix*.json")):
            written += saved_mixture_figures(cfg, test_cache, variant, desc_path, out_dir)
    return written


def saved_mixture_figures(
    cfg: dict, test_cache: FeatureCache, variant: str, desc_path: Path, out_dir: Path
) -> list[Path]:
    """One saved test mixture of ``variant`` (described by ``mix<k>.json`` beside its files):
    its spectrogram panel, its audio examples and, with sound maps, its localization figure."""
    pred, mix, rate = desc_path.parent, desc_path.stem, test_cache.sample_rate
    desc = read_json(desc_path)
    n = len(desc["clips"])
    mixture = _wav(pred / f"{mix}_mixture.wav", rate)
    trues = [_wav(pred / f"{mix}_true{k}.wav", rate) for k in range(n)]
    ests = [_wav(pred / f"{mix}_est{k}.wav", rate) for k in range(n)]
    masks = np.load(require_file(pred / f"{mix}_masks.npy", "predicted masks"))
    labels = [str(c) for c in desc["classes"]]
    written = [
        plot_separation_panel(
            mixture,
            trues,
            ests,
            masks,
            labels,
            cfg["audio"],
            rate,
            out_dir / FIGURES["spectrograms"].format(variant=variant, mix=mix),
            f"{variant}: test mixture {mix[3:]} ({' + '.join(labels)})",
        )
    ]
    audio = {
        "mixture": mixture,
        **{f"true{k}": t for k, t in enumerate(trues)},
        **{f"est{k}": e for k, e in enumerate(ests)},
    }
    for what, wav in audio.items():
        path = out_dir / FIGURES["audio"].format(variant=variant, mix=mix, what=what)
        write_wav(path, np.clip(wav, -1, 1).astype(np.float32), rate)
        written.append(path)
    maps_path = pred / f"{mix}_maps.npy"
    if maps_path.is_file():
        h, w = desc["crop_hw"]
        frames = [
            denormalize(eval_frames(test_cache.frames(test_cache.position(clip))[[f]], (h, w)))[0]
            .permute(1, 2, 0)
            .numpy()
            for clip, f in zip(desc["clips"], desc["frames"], strict=False)
        ]
        written.append(
            plot_localization(
                frames,
                np.load(maps_path),
                desc["boxes"],
                labels,
                out_dir / FIGURES["localization"].format(variant=variant, mix=mix),
                f"{variant}: sound maps of test mixture {mix[3:]}"
                + (" (white box: true source)" if any(desc["boxes"]) else " (star: the maximum)"),
            )
        )
    return written
