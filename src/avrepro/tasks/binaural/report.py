"""The binaural section of the report: ablation table, what beat what (paired over test clips),
figures, listening examples, and the published FAIR-Play numbers (:mod:`.published`)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from avrepro.figures.tables import fmt_mean_sem, lower_is_better, markdown_table, metric_label, read_metrics
from avrepro.report.kit import (
    ReportContext,
    clip_counts,
    clips_phrase,
    code,
    load_metrics,
    md_escape,
    present_keys,
    task_table,
)
from avrepro.tasks.binaural.figures import names_of
from avrepro.tasks.binaural.names import FIGURES, METRIC_KEYS, SHORTCUT_VARIANTS
from avrepro.tasks.binaural.published import published_section

DESCRIPTIONS = {
    "mono_mono": "the mono mix copied to both ears",
    "backbone": "the published Mono2Binaural net (visual vector tiled at the U-Net bottleneck)",
    "film": "the same U-Net with the visual vector scaling and shifting every decoder level (FiLM)",
    "audio_only": "the FiLM net trained and tested with a blank frame",
    "fusion": "backbone + APNet fusion (visual map attended at 4 decoder levels, left/right masks)",
    "coherence": "fusion + the spatial-coherence classifier",
    "geometry": "fusion + the geometric-consistency loss",
    "rir": "fusion + RIR prediction from the visual features",
    "full": "fusion + coherence + geometry + RIR (the geometry-aware model)",
    "flipped": "the trained `full` model tested on horizontally mirrored frames",
}
AUX_TERMS = ("coherence", "geometry", "rir", "full")


def paired(ctx: ReportContext, a: str, b: str, key: str) -> dict | None:
    """Per-clip paired difference ``a - b`` of ``key`` over the clips both evaluated: mean, SEM,
    n and the relative change of the means. Without both per-clip files, the difference of the
    two summaries' means with their SEMs combined (``paired`` False); None if ``key`` is absent."""
    frames = []
    for name in (a, b):
        path = ctx.clip_file("binaural", name)
        if path.is_file():
            df = pd.read_csv(path, dtype={"clip_id": str})
            if key in df.columns:
                frames.append(df[["clip_id", key]].rename(columns={key: name}))
    if len(frames) == 2:
        both = frames[0].merge(frames[1], on="clip_id").dropna()
        if len(both) >= 2:
            diff = both[a].to_numpy(float) - both[b].to_numpy(float)
            ref = float(both[b].mean())
            return {
                "mean": float(diff.mean()),
                "sem": float(diff.std(ddof=1) / math.sqrt(len(diff))),
                "n": len(diff),
                "rel_pct": 100.0 * float(diff.mean()) / abs(ref) if ref else math.nan,
                "paired": True,
            }
    ma, mb = (read_metrics(ctx.metric_file("binaural", n)) for n in (a, b))
    if key not in ma or key not in mb:
        return None
    diff = float(ma[key]) - float(mb[key])
    sem = math.hypot(float(ma.get(f"{key}_sem", math.nan)), float(mb.get(f"{key}_sem", math.nan)))
    return {
        "mean": diff,
        "sem": sem,
        "n": int(ma.get("n_clips", 0)),
        "rel_pct": 100.0 * diff / abs(float(mb[key])) if mb[key] else math.nan,
        "paired": False,
    }


def paired_columns(ctx: ReportContext, name: str, a: str, b: str) -> dict | None:
    """Per-clip paired difference of columns ``a - b`` of one model's clip CSV."""
    path = ctx.clip_file("binaural", name)
    if not path.is_file():
        return None
    df = pd.read_csv(path)
    if not {a, b} <= set(df.columns):
        return None
    both = df[[a, b]].dropna()
    if len(both) < 2:
        return None
    diff = both[a].to_numpy(float) - both[b].to_numpy(float)
    ref = float(both[b].mean())
    return {
        "mean": float(diff.mean()),
        "sem": float(diff.std(ddof=1) / math.sqrt(len(diff))),
        "n": len(diff),
        "rel_pct": 100.0 * float(diff.mean()) / abs(ref) if ref else math.nan,
        "paired": True,
    }


def verdict(p: dict, key: str) -> tuple[str, bool]:
    """A phrase for a difference ``a - b`` and whether ``a`` is better by at least 2 SE."""
    t = abs(p["mean"]) / p["sem"] if p["sem"] > 0 else math.inf
    better = (p["mean"] < 0) == lower_is_better(key)
    size = f"{abs(p['rel_pct']):.1f} % {'better' if better else 'worse'}"
    what = "paired difference" if p["paired"] else "difference of the means (unpaired)"
    gap = f"{what} {p['mean']:+.4g} ± {p['sem']:.2g} over {p['n']} clips, {t:.1f} SE"
    if t < 2:
        return f"{size} ({gap}: within noise)", False
    return f"{size} ({gap})", better


def _exists(ctx: ReportContext, name: str) -> bool:
    return ctx.metric_file("binaural", name).is_file()


def _statements(ctx: ReportContext, metrics: dict[str, dict]) -> list[str]:
    """Every comparison of the section, one sentence each (paired over test clips where the
    per-clip files allow)."""
    return (
        _architecture_statements(ctx, metrics)
        + _aux_statements(ctx, metrics)
        + _flipped_statements(ctx, metrics)
        + _head_statements(ctx, metrics)
    )


def _architecture_statements(ctx: ReportContext, metrics: dict[str, dict]) -> list[str]:
    """FiLM and APNet fusion against the published backbone."""
    key, out = "stft_distance", []
    comparisons = (
        ("film", "FiLM conditioning vs the published bottleneck tiling (`film` vs `backbone`)"),
        ("fusion", "APNet fusion vs the backbone alone (`fusion` vs `backbone`)"),
    )
    for name, what in comparisons:
        if name in metrics and "backbone" in metrics:
            p = paired(ctx, name, "backbone", key)
            if p:
                out.append(f"{what}: {verdict(p, key)[0]}.")
    return out


def _aux_statements(ctx: ReportContext, metrics: dict[str, dict]) -> list[str]:
    """Each auxiliary term (and all of them) added to ``fusion``, on both distances."""
    if "fusion" not in metrics:
        return []
    out = []
    for term in AUX_TERMS:
        if term not in metrics:
            continue
        parts = []
        for k in ("stft_distance", "env_distance"):
            p = paired(ctx, term, "fusion", k)
            if p:
                phrase, helps = verdict(p, k)
                parts.append((metric_label(k), phrase, helps))
        if parts:
            out.append(_aux_sentence(term, parts))
    return out


def _aux_sentence(term: str, parts: list[tuple[str, str, bool]]) -> str:
    """Whether adding ``term`` to ``fusion`` helps, from its (label, phrase, helps) comparisons."""
    what = "all auxiliary terms together" if term == "full" else f"the {term} term"
    helped = any(h for _, _, h in parts)
    hurt = [lbl for lbl, ph, h in parts if "worse" in ph and "within noise" not in ph]
    conclusion = (
        "helps"
        if helped and not hurt
        else "hurts"
        if hurt and not helped
        else "gives mixed results"
        if helped and hurt
        else "does not help on this data"
    )
    return (
        f"Adding {what} to `fusion` ({code(term)} vs `fusion`) {conclusion}: "
        + "; ".join(f"{lbl} {ph}" for lbl, ph, _ in parts)
        + "."
    )


def _flipped_statements(ctx: ReportContext, metrics: dict[str, dict]) -> list[str]:
    """The ``flipped`` control against the model whose checkpoint it mirrors."""
    key, src = "stft_distance", "full"
    if "flipped" not in metrics or src not in metrics:
        return []
    p = paired(ctx, "flipped", src, key)
    if not p:
        return []
    phrase, _ = verdict(p, key)
    worse = p["mean"] > 0
    return [
        f"Mirroring the frames (`flipped`, the trained `{src}` model on "
        f"mirrored frames) makes {metric_label(key)} {phrase}"
        + (
            ": the model uses where the sources are in the picture."
            if worse
            else ": the model does not depend on the frame's layout."
        )
    ]


def _head_statements(ctx: ReportContext, metrics: dict[str, dict]) -> list[str]:
    """The coherence classifier's accuracy and the RIR head's error, per model with the head."""
    out = []
    for name, m in metrics.items():
        if "coherence_accuracy" in m:
            out.append(
                f"Spatial-coherence accuracy of {code(name)} (is the audio's left/right "
                f"order the frame's?): {100 * m['coherence_accuracy']:.1f} ± "
                f"{100 * m.get('coherence_accuracy_sem', math.nan):.1f} % (chance 50 %)."
            )
    for name, m in metrics.items():
        if "rir_error" in m and "rir_error_mean_baseline" in m:
            p = paired_columns(ctx, name, "rir_error", "rir_error_mean_baseline")
            out.append(
                f"RIR envelope error of {code(name)}: "
                f"{fmt_mean_sem(m['rir_error'], m.get('rir_error_sem'))} dB against "
                f"{fmt_mean_sem(m['rir_error_mean_baseline'], m.get('rir_error_mean_baseline_sem'))}"
                " dB "
                "for the mean training envelope" + (f": {verdict(p, 'rir_error')[0]}" if p else "") + "."
            )
    return out


def pct_phrase(value: float, ref: float, lower_better: bool) -> str:
    """``45.1 % lower (better) than``: the relative size of ``value`` against ``ref``."""
    if not (math.isfinite(value) and math.isfinite(ref)) or ref == 0:
        return "not comparable to"
    pct = 100.0 * (value - ref) / abs(ref)
    if abs(pct) < 0.05:
        return "equal to"
    verdict_ = "better" if (pct < 0) == lower_better else "worse"
    return f"{abs(pct):.1f} % {'lower' if pct < 0 else 'higher'} ({verdict_}) than"


def _headline(metrics: dict[str, dict], variants: list[str], baselines: list[str]) -> str:
    """The best trained variant on STFT distance against mono-mono and audio-only (means, with
    the gap in combined standard errors)."""
    key = "stft_distance"
    candidates = [
        v
        for v in variants
        if v not in SHORTCUT_VARIANTS and v not in baselines and math.isfinite(metrics[v].get(key, math.nan))
    ]
    if not candidates:
        return ""
    best = min(candidates, key=lambda v: (metrics[v][key], candidates.index(v)))
    b = metrics[best]
    text = (
        f"**Result.** The best variant is {code(best)}: {metric_label(key)} "
        f"{fmt_mean_sem(b[key], b.get(key + '_sem'))}"
    )
    comps = []
    for ref, what in (("mono_mono", "mono-mono"), ("audio_only", "audio-only")):
        if ref in metrics and ref != best:
            r = metrics[ref]
            comp = (
                f"{pct_phrase(b[key], r[key], lower_is_better(key))} {what} "
                f"({fmt_mean_sem(r[key], r.get(key + '_sem'))})"
            )
            se = math.hypot(b.get(key + "_sem", math.nan), r.get(key + "_sem", math.nan))
            if math.isfinite(se) and se > 0:
                gap = abs(b[key] - r[key]) / se
                comp += f", a gap of {gap:.1f} combined standard errors"
                comp += " (within noise)" if gap < 2 else ""
            comps.append(comp)
    text += (", " + "; and ".join(comps) if comps else "") + "."
    if "mono_mono" in metrics and not any(metrics[v][key] < metrics["mono_mono"][key] for v in candidates):
        text += f" No variant beats mono-mono on {metric_label(key)}."
    return text + "\n"


def _rir_table(metrics: dict[str, dict]) -> str:
    rows = []
    for name, m in metrics.items():
        if "rir_error" in m and "rir_error_mean_baseline" in m:
            base = m["rir_error_mean_baseline"]
            rel = 100 * (m["rir_error"] - base) / base if base else math.nan
            rows.append(
                [
                    name,
                    fmt_mean_sem(m["rir_error"], m.get("rir_error_sem")),
                    fmt_mean_sem(base, m.get("rir_error_mean_baseline_sem")),
                    f"{rel:+.1f} %",
                ]
            )
    if not rows:
        return ""
    return markdown_table(
        ["model", "RIR error (dB) ↓", "mean-RIR baseline (dB)", "Δ vs baseline"], rows, ["l", "r", "r", "r"]
    )


def binaural_section(ctx: ReportContext) -> str:
    """Ablation table, statements with paired comparisons, figures, listening, references."""
    bcfg = ctx.cfg.get("binaural", {})
    baselines, variants, controls = names_of(bcfg)
    names = baselines + [v for v in variants + controls if v not in baselines]
    files = ctx.metric_files("binaural", names)
    metrics = load_metrics(files)
    keys = present_keys(METRIC_KEYS, metrics)
    reference = "mono_mono" if "mono_mono" in names else None
    # the shortcut variant is shown with the controls: neither is a candidate for "best"
    shown_controls = [n for n in names if n in SHORTCUT_VARIANTS or n in controls]
    _, table = task_table(
        ctx,
        "binaural",
        files,
        keys,
        reference=reference,
        baselines=baselines,
        controls=shown_controls,
        relative_keys=keys[:2],
    )
    fig_dir = ctx.figure_dir / "binaural"
    return "\n".join(
        _intro(bcfg, names, metrics, reference is not None)
        + ["### Ablation\n", table]
        + _ablation_notes(metrics)
        + _results(ctx, metrics, variants, baselines)
        + _figures(ctx, fig_dir)
        + _listening(ctx, fig_dir, names)
        + published_section(ctx, metrics)
    )


def _intro(bcfg: dict, names: list[str], metrics: dict[str, dict], relative: bool) -> list[str]:
    """The heading, what the network does and how it is scored, and the names of the rows."""
    return [
        "## Binaural audio from mono and video (Mono2Binaural, geometry-aware multi-task)\n",
        "The network hears the mono mix (L+R) of a 0.63 s window and sees the frame nearest its "
        "centre, and predicts the left-right difference spectrogram; whole test clips are "
        "binauralised with sliding windows (hop "
        f"{bcfg.get('eval', {}).get('hop_seconds', '?')} s, each window RMS-normalised and "
        "rescaled, overlaps averaged, the last window aligned to the clip's end). STFT and ENV "
        "distances are computed per clip after peak-normalising each binaural pair (lower is "
        "better); the table gives mean ± SEM over "
        + clips_phrase(clip_counts(metrics))
        + (" and the change relative to mono-mono" if relative else "")
        + ". Names:\n",
        "\n".join(f"- {code(n)}: {DESCRIPTIONS[n]}" for n in names if n in DESCRIPTIONS) + "\n",
    ]


def _ablation_notes(metrics: dict[str, dict]) -> list[str]:
    """The RIR table (where a model has the head) and the metric files' notes."""
    out = []
    rir_md = _rir_table(metrics)
    if rir_md:
        out.append(
            "RIR prediction (mean absolute error of the log-energy envelope per ear, band "
            "and time bin; the baseline predicts the mean training envelope):\n"
        )
        out.append(rir_md)
    notes = [
        f"- {code(n)}: {md_escape(m['note'])}"
        for n, m in metrics.items()
        if isinstance(m.get("note"), str) and m["note"].strip()
    ]
    if notes:
        out.append("Notes from the metric files:\n\n" + "\n".join(notes) + "\n")
    return out


def _results(
    ctx: ReportContext, metrics: dict[str, dict], variants: list[str], baselines: list[str]
) -> list[str]:
    """The headline result and the "What beat what" statements."""
    out = []
    headline = _headline(metrics, variants, baselines)
    if headline:
        out.append(headline)
    statements = _statements(ctx, metrics)
    if statements:
        out.append("### What beat what\n")
        out.append(
            "Comparisons are paired over the same test clips (mean difference ± its SE); a "
            "gap under 2 SE is reported as within noise.\n"
        )
        out.append("\n".join(f"- {s}" for s in statements) + "\n")
    return out


def _figures(ctx: ReportContext, fig_dir: Path) -> list[str]:
    """Every figure found under ``fig_dir``, with its caption."""
    captions = [
        (
            FIGURES["loss_curves"],
            "Every loss component per variant, training (solid) and validation "
            "(dashed), from the dvclive logs:",
        ),
        (FIGURES["ablation"], "Ablation, mean ± SEM over test clips:"),
        *[
            (FIGURES["distributions"].format(key=k), f"Per-clip {metric_label(k)} on the test set:")
            for k in METRIC_KEYS
        ],
        (FIGURES["rir"], "Predicted vs true RIR envelopes of test scenes:"),
    ]
    figs = []
    for name, caption in captions:
        path = fig_dir / name
        if path.is_file():
            figs.append(f"{caption}\n\n![{md_escape(path.stem)}]({ctx.rel(path)})\n")
    for path in sorted(fig_dir.glob(FIGURES["spectrograms"].format(clip="*"))):
        clip = path.stem[len("spectrograms_") :]
        figs.append(
            f"Spectrograms of test clip {code(clip)}: mono input, true and predicted L−R "
            "(the L−R rows share one colour scale):\n\n"
            f"![{md_escape(path.stem)}]({ctx.rel(path)})\n"
        )
    return [
        "### Figures\n",
        "\n".join(figs) if figs else f"No figures found under {md_escape(ctx.rel(fig_dir))}.\n",
    ]


def _listening(ctx: ReportContext, fig_dir: Path, names: list[str]) -> list[str]:
    """Links to the demo videos and a table of each clip's listening wavs (none: no section)."""
    demos = sorted(fig_dir.glob("demo_*.mp4"))
    wavs = sorted(fig_dir.glob(FIGURES["listen"].format(clip="*", what="*")))
    if not (demos or wavs):
        return []
    out = [
        "### Listening\n",
        "Use headphones. The videos carry the predicted binaural audio; the wav files "
        "share one gain per clip so their levels compare.\n",
    ]
    if demos:
        out.append("\n".join(f"- video: [{md_escape(p.name)}]({ctx.rel(p)})" for p in demos) + "\n")
    rows = _listening_rows(ctx, wavs, names)
    if rows:
        out.append(
            markdown_table(["test clip", "audio (mono input, true binaural, predictions)"], rows, ["l", "l"])
        )
    return out


def _listening_rows(ctx: ReportContext, wavs: list[Path], names: list[str]) -> list[list[str]]:
    """One row per clip: its wavs, mono input and true binaural first, then the models in order."""
    by_clip: dict[str, dict[str, Path]] = {}
    for p in wavs:
        clip, what = p.stem[len("listen_") :].split("_", 1)
        by_clip.setdefault(clip, {})[what] = p
    order = ["mono", "true"] + [n for n in names if n not in ("mono", "true")]

    def rank(what: str) -> tuple[int, str]:
        return (order.index(what) if what in order else len(order), what)

    return [
        [code(clip), " · ".join(f"[{md_escape(w)}]({ctx.rel(paths[w])})" for w in sorted(paths, key=rank))]
        for clip, paths in sorted(by_clip.items())
    ]
