"""Figures of the binaural task (``avrepro figures --task binaural``).

Written into ``out_dir`` (``reports/figures/binaural``), names in ``FIGURES``:
loss curves per variant (every loss component, training and validation), the ablation chart,
per-clip metric distributions, predicted vs true RIR envelopes, spectrogram panels, two demo
videos with the predicted binaural audio and the listening wavs the report links.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avrepro.figures import color_for, new_figure, require_file, save_png, styled
from avrepro.figures.curves import plot_loss_curves
from avrepro.figures.demo import plot_value_distributions, read_clip_metrics, write_demo_mp4
from avrepro.figures.spectrograms import plot_binaural_panel
from avrepro.figures.tables import lower_is_better, metric_label, read_metrics
from avrepro.io import read_json
from avrepro.media import read_wav, write_wav
from avrepro.tasks.binaural.names import FIGURES, METRIC_KEYS

PANEL_NAMES = ("backbone", "film", "fusion", "full", "flipped")


def names_of(cfg: dict) -> tuple[list[str], list[str], list[str]]:
    """Baselines, trained variants and controls of the binaural section."""
    controls = cfg.get("controls") or {}
    return list(cfg.get("baselines", [])), list(cfg.get("variants", [])), list(controls)


def plot_ablation(
    metrics: dict[str, dict], out_png: str | Path, title: str = "Binaural ablation on the test set"
) -> Path:
    """Bars (mean ± SEM over clips) per model for each metric present in ``metrics``
    (name -> flat metric JSON); the RIR panel adds the mean-RIR baseline of each RIR model."""
    keys = [k for k in METRIC_KEYS if any(k in m for m in metrics.values())]
    if not keys:
        raise ValueError(f"{out_png}: none of {', '.join(METRIC_KEYS)} in the metric files")
    with styled():
        fig = new_figure((3.3 * len(keys) + 0.6, 3.4))
        axes = np.atleast_1d(fig.subplots(1, len(keys), squeeze=False)).ravel()
        for ax, key in zip(axes, keys, strict=True):
            names = [n for n, m in metrics.items() if key in m]
            labels, values, errs, colors, hatches = [], [], [], [], []
            for n in names:
                labels.append(n)
                values.append(metrics[n][key])
                errs.append(metrics[n].get(f"{key}_sem", 0.0))
                colors.append(color_for(n, list(metrics)))
                hatches.append("")
                base = f"{key}_mean_baseline"
                if base in metrics[n]:
                    labels.append(f"mean RIR\n({n})")
                    values.append(metrics[n][base])
                    errs.append(metrics[n].get(f"{base}_sem", 0.0))
                    colors.append("#7f7f7f")
                    hatches.append("//")
            pos = np.arange(len(values))
            bars = ax.bar(pos, values, yerr=errs, color=colors, alpha=0.8, capsize=3)
            for bar, hatch in zip(bars, hatches, strict=True):
                bar.set_hatch(hatch)
            if key == "coherence_accuracy":
                ax.axhline(0.5, color="black", ls=":", lw=1, label="chance")
                ax.set_ylim(0, 1)
                ax.legend(loc="lower right")
            ax.set_xticks(pos, labels, rotation=60, ha="right")
            better = "lower" if lower_is_better(key) else "higher"
            ax.set_title(f"{metric_label(key)} ({better} is better)")
            ax.grid(axis="x", visible=False)
        fig.suptitle(title, fontweight="bold")
        return save_png(fig, out_png)


def plot_rir_examples(
    examples: dict,
    out_png: str | Path,
    max_clips: int = 3,
    title: str = "RIR log-energy envelopes: true vs predicted",
) -> Path:
    """Per test clip (row) and ear (column): true (solid) and predicted (dashed) band energies
    over time, the mean-RIR baseline dotted. ``examples`` is a ``rir_envelopes.json``."""
    clips = sorted(examples["clips"])[:max_clips]
    if not clips:
        raise ValueError(f"{out_png}: no RIR examples")
    edges, step = examples["bands_hz"], examples["bin_seconds"]
    bands = [f"{edges[b] / 1000:g}-{edges[b + 1] / 1000:g} kHz" for b in range(len(edges) - 1)]
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    with styled():
        fig = new_figure((7.5, 2.3 * len(clips) + 0.9))
        axes = fig.subplots(len(clips), 2, sharex=True, sharey=True, squeeze=False)
        for r, clip in enumerate(clips):
            env = {k: np.asarray(examples["clips"][clip][k]) for k in ("true", "pred", "mean")}
            t = (np.arange(env["true"].shape[-1]) + 0.5) * step * 1000
            for ear, ax in enumerate(axes[r]):
                for b, label in enumerate(bands):
                    c = colors[b % len(colors)]
                    ax.plot(
                        t,
                        env["true"][ear, b],
                        "-",
                        color=c,
                        lw=1.4,
                        label=label if r == 0 and ear == 0 else None,
                    )
                    ax.plot(t, env["pred"][ear, b], "--", color=c, lw=1.2)
                    ax.plot(t, env["mean"][ear, b], ":", color=c, lw=0.9, alpha=0.7)
                err = float(np.mean(np.abs(env["pred"][ear] - env["true"][ear])))
                base = float(np.mean(np.abs(env["mean"][ear] - env["true"][ear])))
                ax.set_title(
                    f"clip {clip}, {'left' if ear == 0 else 'right'} ear "
                    f"(error {err:.1f} dB, mean RIR {base:.1f} dB)",
                    loc="left",
                )
                if ear == 0:
                    ax.set_ylabel("band energy (dB)")
        for ax in axes[-1]:
            ax.set_xlabel("time (ms)")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        from matplotlib.lines import Line2D

        handles += [Line2D([], [], color="black", ls=s) for s in ("-", "--", ":")]
        labels += ["true", "predicted", "mean RIR (training mean)"]
        fig.legend(handles, labels, loc="outside lower center", ncols=4)
        fig.suptitle(title, fontweight="bold")
        return save_png(fig, out_png)


def _read_prediction(path: Path, sample_rate: int) -> np.ndarray:
    audio, rate = read_wav(require_file(path, "predicted binaural audio"))
    if rate != sample_rate:
        raise ValueError(f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz")
    return audio


def make_figures(
    cfg: dict, test_cache, models_dir: Path, metrics_dir: Path, predictions_dir: Path, out_dir: Path
) -> list[Path]:
    """Draw every binaural figure (see the module docstring); returns the paths written."""
    models_dir, metrics_dir = Path(models_dir), Path(metrics_dir)
    predictions_dir, out_dir = Path(predictions_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    baselines, variants, controls = names_of(cfg)
    names = baselines + variants + controls
    written: list[Path] = []
    if variants:
        written.append(
            plot_loss_curves(
                {v: models_dir / v / "live" for v in variants},
                out_dir / FIGURES["loss_curves"],
                "Binaural: every loss component, training (solid) and validation (dashed)",
            )
        )
    metrics = {
        n: read_metrics(require_file(metrics_dir / f"binaural_{n}.json", "binaural metric file"))
        for n in names
    }
    written.append(plot_ablation(metrics, out_dir / FIGURES["ablation"]))
    written += distribution_figures(metrics, metrics_dir, out_dir)
    written += rir_figure(variants, predictions_dir, out_dir)
    written += clip_figures(cfg, test_cache, variants + controls, predictions_dir, out_dir)
    return written


def distribution_figures(metrics: dict[str, dict], metrics_dir: Path, out_dir: Path) -> list[Path]:
    """Per-clip distributions of each metric key (the RIR error beside each model's mean-RIR
    baseline) from the per-clip CSVs."""
    written = []
    for key in METRIC_KEYS:
        data = {}
        for n in metrics:
            if key in metrics[n]:
                values = read_clip_metrics(metrics_dir / f"binaural_{n}_clips.csv", key)
                if len(values):
                    data[n] = values
            if key == "rir_error" and f"{key}_mean_baseline" in metrics[n]:
                base = read_clip_metrics(metrics_dir / f"binaural_{n}_clips.csv", f"{key}_mean_baseline")
                if len(base):
                    data[f"mean RIR ({n})"] = base
        if data:
            written.append(
                plot_value_distributions(data, key, out_dir / FIGURES["distributions"].format(key=key))
            )
    return written


def rir_figure(variants: list[str], predictions_dir: Path, out_dir: Path) -> list[Path]:
    """Predicted vs true RIR envelopes of ``full``, else ``rir``, else the first variant that
    saved them; none when no variant did."""
    rir_source = next(
        (
            v
            for v in ("full", "rir") + tuple(variants)
            if (predictions_dir / v / "rir_envelopes.json").is_file()
        ),
        None,
    )
    if rir_source is None:
        return []
    examples = read_json(predictions_dir / rir_source / "rir_envelopes.json")
    return [
        plot_rir_examples(
            examples,
            out_dir / FIGURES["rir"],
            title=f"RIR log-energy envelopes of test scenes: true vs predicted ({rir_source})",
        )
    ]


def clip_figures(
    cfg: dict, test_cache, evaluated: list[str], predictions_dir: Path, out_dir: Path
) -> list[Path]:
    """Per test clip whose predicted audio every evaluated model saved: the spectrogram panel,
    the demo video of ``eval.demo_variant`` (else the last model) and the listening wavs."""
    predicted = [n for n in evaluated if (predictions_dir / n).is_dir()]
    clips = (
        sorted(set.intersection(*[{p.stem for p in (predictions_dir / n).glob("*.wav")} for n in predicted]))
        if predicted
        else []
    )
    panel = [n for n in PANEL_NAMES if n in predicted] or predicted
    demo = cfg.get("eval", {}).get("demo_variant")
    demo = demo if demo in predicted else (predicted[-1] if predicted else None)
    sr = test_cache.sample_rate
    written: list[Path] = []
    for clip in clips:
        i = test_cache.position(clip)
        true, frames = test_cache.audio_float(i), test_cache.frames(i)
        preds = {n: _read_prediction(predictions_dir / n / f"{clip}.wav", sr) for n in predicted}
        mono = true[0] + true[1]
        written.append(
            plot_binaural_panel(
                mono,
                true,
                {n: preds[n] for n in panel},
                sr,
                out_dir / FIGURES["spectrograms"].format(clip=clip),
                n_fft=cfg["audio"]["n_fft"],
                hop=cfg["audio"]["hop"],
                title=f"Binaural prediction, test clip {clip}",
            )
        )
        if demo is not None:
            written.append(
                write_demo_mp4(
                    frames,
                    test_cache.fps,
                    preds[demo],
                    sr,
                    out_dir / FIGURES["demo"].format(clip=clip, what=demo),
                    caption=f"predicted binaural: {demo}",
                )
            )
        listen = {"mono": np.stack([mono, mono]) / 2, "true": true, **{n: preds[n] for n in panel}}
        written += write_listening(listen, clip, sr, out_dir)
    return written


def write_listening(listen: dict[str, np.ndarray], clip: str, sample_rate: int, out_dir: Path) -> list[Path]:
    """The listening wavs of one clip, all with one gain so that their levels compare."""
    peak = max(float(np.abs(a).max()) for a in listen.values())
    gain = min(1.0, 0.99 / peak) if peak > 0 else 1.0
    written = []
    for what, audio in listen.items():
        path = out_dir / FIGURES["listen"].format(clip=clip, what=what)
        write_wav(path, np.asarray(audio, dtype=np.float32) * gain, sample_rate)
        written.append(path)
    return written
