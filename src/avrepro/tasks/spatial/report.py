"""Report section of the spatial task (AVC / AVSA from ambisonics and 360 video)."""

from __future__ import annotations

import math

from avrepro.figures.tables import fmt_mean_sem, metric_label
from avrepro.report.kit import ReportContext, load_metrics, md_escape, present_keys, task_table
from avrepro.tasks.spatial.names import FIGURES, METRIC_KEYS, PROBE_KEYS

BIN_KEYS = ("avc_accuracy", "avsa_accuracy", "probe_accuracy")  # what the statements compare
_DESCRIBED = {
    "chance": "the expected accuracy of guessing (0.5 for the binary tasks, one of the clip's "
    "instruments for the probe, a random viewpoint for the alignment)",
    "random_backbone": "randomly initialised trunks evaluated the same way (heads and probe trained)",
    "avc": "audio-visual correspondence: each crop contrasted with other clips' audio",
    "avsa": "audio-visual spatial alignment from scratch: also contrasted with the other "
    "viewpoints of the same clip, through transformers over the viewpoints",
    "avsa_curriculum": "AVSA starting from the AVC run's trunks (the paper's curriculum)",
}


def _finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _gap(row: dict, ref: dict, key: str) -> str:
    """``0.71 ± 0.02 vs 0.55 ± 0.03 (+0.16, 4.4 SE)``."""
    value, other = row[key], ref[key]
    se = math.hypot(row[f"{key}_sem"] or 0.0, ref[f"{key}_sem"] or 0.0)
    text = (
        f"{fmt_mean_sem(value, row[f'{key}_sem'])} vs {fmt_mean_sem(other, ref[f'{key}_sem'])} "
        f"({value - other:+.3f}"
    )
    if math.isfinite(se) and se > 0:
        text += f", {abs(value - other) / se:.1f} combined SE"
    return text + ")"


def _curation(ctx: ReportContext, dataset: str) -> str:
    """How many clips of ``dataset`` passed the FOA curation test in ``verify``."""
    import pandas as pd

    if ctx.issues_dir is None or ctx.manifest_dir is None:
        return ""
    issues, manifest = ctx.issues_dir / f"{dataset}.csv", ctx.manifest_dir / f"{dataset}.csv"
    if not (issues.is_file() and manifest.is_file()):
        return ""
    kept = len(pd.read_csv(manifest, usecols=["clip_id"]))
    df = pd.read_csv(issues, dtype=str, keep_default_na=False)
    cur = df[df["reason"].str.startswith("curation")]["clip_id"].nunique()
    total = kept + df.loc[df["clip_id"] != "", "clip_id"].nunique()
    tau = ctx.cfg.get("verify", {}).get("layouts", {}).get(dataset, {}).get("curation") or {}
    rule = (
        f"|E_xyz/E_w − 1| ≤ {tau.get('tau')} below {tau.get('lowpass_hz')} Hz"
        if tau
        else "the FOA energy test"
    )
    why = (
        "The synthetic FOA is ambiX by construction; excluded clips are tonal sources whose "
        "reflections interfere coherently, which moves the ratio away from 1 in short clips."
        if dataset.startswith("synthetic")
        else "Excluded clips are not first-order ambisonics as the test expects it (a wrong channel "
        "order or normalisation, head-locked stereo upmixed to four channels, or a dominant "
        "direct sound in a short clip); they are listed in the data-issues report."
    )
    return (
        f"FOA curation ({rule}, E = sum of squares over the clip, E_xyz = E_X + E_Y + E_Z): "
        f"{kept} of {total} clips of {md_escape(dataset)} kept, {cur} excluded by the test. {why}\n"
    )


def spatial_section(ctx: ReportContext) -> str:
    """Metric table vs chance and the random backbone, statements, figures."""
    scfg = ctx.cfg.get("spatial", {})
    variants, baselines = list(scfg.get("variants", [])), list(scfg.get("baselines", []))
    names = baselines + [v for v in variants if v not in baselines]
    files = ctx.metric_files("spatial", names)
    metrics = load_metrics(files)
    keys = present_keys(METRIC_KEYS, metrics)
    df, table = task_table(ctx, "spatial", files, keys, reference=None, baselines=baselines, relative_keys=[])
    rows = {r["name"]: r for r in df.to_dict("records")}
    probed = not metrics or any(k in keys for k in PROBE_KEYS)
    parts = [
        "## Spatial audio-visual alignment from ambisonics and 360 video (AVC / AVSA)\n",
        _intro(names, scfg, probed),
        _curation(ctx, scfg.get("dataset", "")),
        "### Metrics\n",
        table,
        _results(rows, variants),
        _notes(metrics),
        "### Figures\n",
        _figures(ctx),
        "### Published reference\n",
        _reference(),
    ]
    return "\n".join(p for p in parts if p)


def _intro(names: list[str], scfg: dict, probed: bool) -> str:
    """What is trained and how it is evaluated (``probed``: the data has the 360 scene's
    instruments, which the probe is trained and scored on)."""
    return (
        "Self-supervised pre-training on first-order ambisonics (ambiX) and equirectangular video: "
        "each clip is seen through K perspective crops, and its FOA is rotated toward each crop's "
        "centre. " + "; ".join(f"`{n}` is {_DESCRIBED[n]}" for n in names if n in _DESCRIBED) + ". "
        "Evaluation freezes the trunks: AVC-Bin (own audio vs another clip's) and AVSA-Bin (own "
        "audio vs the same audio turned by a random yaw) train a small head on the training split "
        "and score clip-level decisions on the test split; "
        + (PROBE_TEXT if probed else NO_PROBE_TEXT)
        + "alignment top-1 / error measure which "
        f"of {scfg.get('eval', {}).get('alignment', {}).get('viewpoints', 'M')} horizon viewpoints "
        "each audio direction matches best (error in degrees, lower is better).\n"
    )


PROBE_TEXT = (
    "the probe is a linear classifier of the instrument in front of the rotated microphone, "
    "scored among the clip's own instruments (probe accuracy: does the embedding know which "
    "instrument it is turned toward; chance 1 / number of sources) and over all classes (probe "
    "class accuracy); "
)
NO_PROBE_TEXT = (
    "the instrument probe is not made: it needs the instruments of each clip's 360 scene and "
    "their directions, which the dataset does not have; "
)


def _variant_statement(v: str, row: dict, ref_row: dict, ref: str) -> str:
    """``- `avc` beats the random backbone on ...: <gaps>.`` (over the keys both rows have)."""
    keys = [k for k in BIN_KEYS if _finite(row.get(k)) and _finite(ref_row.get(k))]
    parts = [f"{metric_label(key)} {_gap(row, ref_row, key)}" for key in keys]
    beaten = [metric_label(k) for k in keys if row[k] > ref_row[k]]
    verdict = (
        f"beats the {ref.replace('_', ' ')} on all {('two', 'three')[len(keys) - 2]}"
        if len(beaten) == len(keys) > 1
        else f"beats the {ref.replace('_', ' ')} on {', '.join(beaten) or 'none'}"
    )
    return f"- `{v}` {verdict}: " + "; ".join(parts) + "."


def _results(rows: dict[str, dict], variants: list[str]) -> str:
    """Each variant vs the random backbone (else chance), the curriculum vs AVSA from scratch,
    and the AVSA variants vs AVC; empty when there is nothing to compare."""
    ref = "random_backbone" if "random_backbone" in rows else "chance" if "chance" in rows else None
    statements = [
        _variant_statement(v, rows[v], rows[ref], ref) for v in variants if v in rows and ref is not None
    ]
    if "avsa" in rows and "avsa_curriculum" in rows:
        statements.append(
            "- Curriculum (AVSA from the AVC trunks) vs AVSA from scratch, AVSA accuracy: "
            + _gap(rows["avsa_curriculum"], rows["avsa"], "avsa_accuracy")
            + "."
        )
    if "avc" in rows:
        for v in ("avsa", "avsa_curriculum"):
            if v in rows:
                statements.append(
                    f"- `{v}` vs `avc`, AVSA accuracy: "
                    + _gap(rows[v], rows["avc"], "avsa_accuracy")
                    + "; AVC accuracy: "
                    + _gap(rows[v], rows["avc"], "avc_accuracy")
                    + "."
                )
    if not statements:
        return ""
    return (
        f"**Results** (value vs {'the ' + ref.replace('_', ' ') if ref else 'reference'}, "
        "difference, and the difference in combined standard errors):\n\n" + "\n".join(statements) + "\n"
    )


def _notes(metrics: dict[str, dict]) -> str:
    """The notes the metric files carry (e.g. what chance means), one bullet each."""
    notes = [f"- `{n}`: {md_escape(m['note'])}" for n, m in metrics.items() if isinstance(m.get("note"), str)]
    return "\n".join(notes) + "\n" if notes else ""


_CAPTIONS = {
    "loss_curves": "Training curves (InfoNCE losses, in-batch AVC/AVSA accuracies):",
    "accuracy": "Accuracies with frozen trunks (mean ± SEM over test clips; dotted: chance):",
    "alignment_summary": "Which video viewpoint each audio direction aligns to (mass on the diagonal "
    "= spatially aligned):",
}


def _figures(ctx: ReportContext) -> str:
    """The task's figures that exist, with captions (a line saying none were found otherwise)."""
    fig_dir = ctx.figure_dir / "spatial"
    figs = []
    for key, caption in _CAPTIONS.items():
        path = fig_dir / FIGURES[key]
        if path.is_file():
            figs.append(f"{caption}\n\n![{md_escape(key)}]({ctx.rel(path)})\n")
    for path in sorted(fig_dir.glob(FIGURES["alignment_clip"].format(clip="*"))):
        clip = path.stem[len("alignment_") :]
        if clip == "summary":
            continue
        figs.append(
            f"Test clip `{md_escape(clip)}`: its 360 frame and, on the same azimuth axis, "
            f"each model's alignment of the audio turned toward every direction:\n\n"
            f"![alignment {md_escape(clip)}]({ctx.rel(path)})\n"
        )
    return "\n".join(figs) if figs else f"No figures found under {md_escape(ctx.rel(fig_dir))}.\n"


def _reference() -> str:
    """What the paper reports, and why it is not comparable."""
    return (
        "On YouTube-360 (real 360 video, 5,506 videos) the paper reports AVC-Bin and "
        "AVSA-Bin accuracies for R(2+1)D-18 / Conv2D-10 trunks; those numbers are not comparable "
        "to the synthetic scenes above, where trunks, crop sizes and data are scaled down.\n"
    )
