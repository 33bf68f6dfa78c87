"""The experiment report: ``reports/report.md`` and a self-contained ``reports/report.html``.

The report is the run's facts followed by one section per task, each written by the task's
:meth:`~avrepro.tasks.base.Task.report_section` from a :class:`~avrepro.report.kit.ReportContext`.
Output is deterministic given the inputs (no timestamps, sorted file listings), every path is
relative to the report, and only files that exist are linked.
"""

from __future__ import annotations

from pathlib import Path

from avrepro.io import write_text
from avrepro.report.demo import demo_section
from avrepro.report.html import markdown_to_html
from avrepro.report.kit import ReportContext, code, label, md_escape
from avrepro.tasks import SIMULATOR_FACTS, TASKS, get_task


def task_datasets(cfg: dict, tasks: list[str] | None = None) -> dict[str, str]:
    """``{task: dataset}`` of the tasks in the run (each reads ``<task>.dataset``)."""
    tasks = tasks if tasks is not None else [t for t in cfg.get("tasks", TASKS) if t in cfg]
    return {t: cfg[t].get("dataset", "?") for t in tasks}


def _synthetic_facts(syn: dict) -> str:
    """One line on the embedded synthetic dataset's size and format."""
    src = syn.get("sources", {})
    return (
        f"- Synthetic data: {syn.get('n_rooms')} procedurally generated rooms x "
        f"{syn.get('clips_per_room')} clips of {syn.get('clip_seconds')} s "
        f"({syn.get('sample_rate')} Hz binaural audio, {syn.get('fps')} fps video at "
        f"{syn.get('frame_width')}x{syn.get('frame_height')}), {src.get('min')}-{src.get('max')} "
        f"sources per clip from {len(syn.get('classes', []))} instrument classes"
    )


def _run_facts(ctx: ReportContext) -> str:
    cfg, extra = ctx.cfg, dict(ctx.extra)
    datasets = task_datasets(cfg)
    lines = [
        f"- Profile: {code(cfg.get('profile', '?'))}",
        "- Datasets: " + ", ".join(f"{t} {code(d)}" for t, d in datasets.items()),
    ]
    if any(d.startswith("synthetic") for d in datasets.values()) and isinstance(cfg.get("synthetic"), dict):
        lines.append(_synthetic_facts(cfg["synthetic"]))
    split = cfg.get("split")
    if isinstance(split, dict) and split.get("scheme") == "official":
        lines.append(f"- Split: the dataset's official split `{split.get('official')}`")
    elif isinstance(split, dict) and isinstance(split.get("fractions"), dict):
        fr = split["fractions"]
        parts = "/".join(f"{round(100 * fr[k])}" for k in ("train", "val", "test") if k in fr)
        lines.append(f"- Split: train/val/test {parts} %, grouped by scene (seed {split.get('seed')})")
    if "seed" not in extra and "seed" in cfg:
        lines.append(f"- Seed: {cfg['seed']}")
    for key, value in extra.items():
        lines.append(f"- {md_escape(label(key))}: {md_escape(value)}")
    return "## Run\n\n" + "\n".join(lines) + "\n" + _data_facts(ctx)


def _data_facts(ctx: ReportContext) -> str:
    """Per dataset: clips kept (manifest rows) and clips excluded by ``verify`` (curation
    included), with the most frequent reasons; the full lists are the issues CSVs."""
    import pandas as pd

    if ctx.issues_dir is None or not ctx.issues_dir.is_dir():
        return ""
    rows = []
    for dataset in sorted(set(task_datasets(ctx.cfg).values())):  # this run's, not every CSV there
        issues_csv = ctx.issues_dir / f"{dataset}.csv"
        if not issues_csv.is_file():
            continue
        issues = pd.read_csv(issues_csv, dtype=str, keep_default_na=False)
        manifest = ctx.manifest_dir / f"{dataset}.csv" if ctx.manifest_dir else None
        kept = (
            len(pd.read_csv(manifest, usecols=["clip_id"]))
            if manifest is not None and manifest.is_file()
            else None
        )
        excluded = issues.loc[issues["clip_id"] != "", "clip_id"].nunique()
        reasons = issues["reason"].str.replace(r"\(.*", "", regex=True).str.strip().value_counts().head(3)
        why = "; ".join(f"{md_escape(r)} ({n})" for r, n in reasons.items()) or "none"
        rows.append(
            f"| {code(dataset)} | {kept if kept is not None else '?'} | {excluded} | {why} | "
            f"[issues]({ctx.rel(issues_csv)}) |"
        )
    if not rows:
        return ""
    return (
        "\n### Data\n\n| dataset | clips kept | clips excluded | most frequent reasons | list |\n"
        "|---|---:|---:|---|---|\n" + "\n".join(rows) + "\n"
    )


def fit_note(cfg: dict, task_name: str) -> str:
    """What the run left out because its dataset has no simulator ground truth (the section's
    ``left_out`` and ``without``, set by :func:`avrepro.tasks.fit_to_datasets`); "" when nothing."""
    section = cfg.get(task_name) or {}
    left_out, without = section.get("left_out") or {}, section.get("without") or []
    if not left_out and not without:
        return ""
    needs = get_task(task_name).simulator_needs
    parts = [f"variant {code(v)} left out ({md_escape(why)})" for v, why in left_out.items()]
    for fact in without:
        reduced = [code(v) for v in section.get("variants") or [] if fact in needs.get(v, ())]
        parts.append(
            f"{', '.join(reduced)} trained and evaluated without what needs "
            f"{md_escape(SIMULATOR_FACTS.get(fact, fact))} (the metrics and figures that need it "
            "are not made)"
        )
    return (
        f"> On {code(section.get('dataset', '?'))}, which the simulator did not make: "
        + "; ".join(parts)
        + ".\n"
    )


def _with_fit_note(text: str, cfg: dict, task_name: str) -> str:
    """``text`` (a task's section) with :func:`fit_note` under its heading."""
    note = fit_note(cfg, task_name)
    if not note:
        return text
    heading, _, rest = text.partition("\n")
    return f"{heading}\n\n{note}{rest}"


def build_report(
    cfg: dict,
    out_md: Path,
    metric_dir: Path,
    figure_dir: Path,
    table_dir: Path,
    extra: dict | None = None,
    tasks: list[str] | None = None,
    issues_dir: Path | None = None,
    manifest_dir: Path | None = None,
    demo_dir: Path | None = None,
) -> str:
    """Write ``out_md`` and its HTML twin (``.html`` next to it); return the markdown.

    Args:
        cfg: the resolved configuration (profile, per-task sections with their ``dataset``).
        out_md: the markdown report (``reports/report.md``).
        metric_dir: ``reports/metrics`` (``<task>_<name>.json`` and per-clip CSVs).
        figure_dir: ``reports/figures`` (``<task>/*.png|mp4|wav``).
        table_dir: ``reports/tables``; task sections write their tables here.
        extra: run facts shown under "Run", label -> value (e.g. ``seed``, ``visual_weights``).
        tasks: the sections to build (default: ``cfg["tasks"]``).
        issues_dir, manifest_dir: ``reports/data_issues`` and ``data/manifests`` for the data
            summary (kept and excluded clips per dataset); omitted when not given.
        demo_dir: ``reports/demos`` (each task's inference verb on test clips); omitted when not given.
    Raises:
        FileNotFoundError: a metric file the config implies is missing (named).
        KeyError: a task that is not registered (named).
    """
    out_md = Path(out_md)
    ctx = ReportContext(
        cfg=cfg,
        out_md=out_md,
        metric_dir=Path(metric_dir),
        figure_dir=Path(figure_dir),
        table_dir=Path(table_dir),
        extra=dict(extra or {}),
        issues_dir=Path(issues_dir) if issues_dir else None,
        manifest_dir=Path(manifest_dir) if manifest_dir else None,
        demo_dir=Path(demo_dir) if demo_dir else None,
    )
    if tasks is None:
        tasks = [t for t in cfg.get("tasks", TASKS) if t in cfg]
    sections = [_with_fit_note(get_task(t).report_section(ctx), cfg, t) + demo_section(ctx, t) for t in tasks]
    profile = cfg.get("profile", "?")
    names = sorted(set(task_datasets(cfg, tasks).values()))
    parts = [
        "# avrepro report\n",
        f"Profile {code(profile)} on the {', '.join(code(d) for d in names)} "
        f"dataset{'s' if len(names) > 1 else ''}. Every number and figure "
        "below is generated by the pipeline from the files it links; rerunning it with the "
        "same parameters gives the same report.\n",
        _run_facts(ctx),
        *sections,
    ]
    md = "\n".join(p.rstrip("\n") + "\n" for p in parts)
    write_text(out_md, md)
    write_text(out_md.with_suffix(".html"), markdown_to_html(md, f"avrepro report ({profile})"))
    return md
