"""The experiment report: ``reports/report.md`` and a self-contained ``reports/report.html``.

The report is assembled from section builders, one per task, registered with
:func:`section`. Each builder gets a :class:`ReportContext` and returns markdown; it may
write tables under ``table_dir``. Adding a task's section is one decorated function. Output is
deterministic given the inputs (no timestamps, sorted file listings), every path is relative
to the report, and only files that exist are linked.
"""

from __future__ import annotations

import html
import math
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from avrepro.io import write_text


@dataclass(frozen=True)
class ReportContext:
    """What a section builder needs: the resolved config and where inputs and outputs live."""

    cfg: dict
    out_md: Path
    metric_dir: Path
    figure_dir: Path
    table_dir: Path
    extra: dict = field(default_factory=dict)
    issues_dir: Path | None = None      # reports/data_issues (one CSV per dataset)
    manifest_dir: Path | None = None    # data/manifests

    def rel(self, path: str | Path) -> str:
        """``path`` relative to the report's folder, URL-quoted, with forward slashes."""
        rel = os.path.relpath(Path(path).resolve(), self.out_md.parent.resolve())
        return urllib.parse.quote(Path(rel).as_posix())

    def metric_file(self, task: str, name: str) -> Path:
        """``<metric_dir>/<task>_<name>.json``."""
        return self.metric_dir / f"{task}_{name}.json"

    def clip_file(self, task: str, name: str) -> Path:
        """``<metric_dir>/<task>_<name>_clips.csv``."""
        return self.metric_dir / f"{task}_{name}_clips.csv"


SectionBuilder = Callable[[ReportContext], str]
SECTIONS: dict[str, SectionBuilder] = {}


def section(task: str) -> Callable[[SectionBuilder], SectionBuilder]:
    """Register a section builder for ``task`` (sections appear in registration order)."""

    def register(fn: SectionBuilder) -> SectionBuilder:
        SECTIONS[task] = fn
        return fn

    return register


def md_escape(text) -> str:
    """Escape characters that markdown or HTML would interpret in free text."""
    return re.sub(r"([\\`*\[\]|<>])", r"\\\1", str(text))


def _code(name: str) -> str:
    return f"`{str(name).replace('`', '')}`"


def _label(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def _run_facts(ctx: ReportContext) -> str:
    cfg, extra = ctx.cfg, dict(ctx.extra)
    profile, dataset = cfg.get("profile", "?"), cfg.get("dataset", "?")
    lines = [f"- Profile: {_code(profile)}", f"- Dataset: {_code(dataset)}"]
    syn = cfg.get("synthetic") if dataset == "synthetic" else None
    if isinstance(syn, dict):
        src = syn.get("sources", {})
        lines[-1] += (
            f": {syn.get('n_rooms')} procedurally generated rooms x {syn.get('clips_per_room')} "
            f"clips of {syn.get('clip_seconds')} s ({syn.get('sample_rate')} Hz binaural audio, "
            f"{syn.get('fps')} fps video at {syn.get('frame_width')}x{syn.get('frame_height')}), "
            f"{src.get('min')}-{src.get('max')} sources per clip from "
            f"{len(syn.get('classes', []))} instrument classes")
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
        lines.append(f"- {md_escape(_label(key))}: {md_escape(value)}")
    return "## Run\n\n" + "\n".join(lines) + "\n" + _data_facts(ctx)


def _data_facts(ctx: ReportContext) -> str:
    """Per dataset: clips kept (manifest rows) and clips excluded by ``verify`` (curation
    included), with the most frequent reasons; the full lists are the issues CSVs."""
    import pandas as pd

    if ctx.issues_dir is None or not ctx.issues_dir.is_dir():
        return ""
    rows = []
    for issues_csv in sorted(ctx.issues_dir.glob("*.csv")):
        dataset = issues_csv.stem
        issues = pd.read_csv(issues_csv, dtype=str, keep_default_na=False)
        manifest = ctx.manifest_dir / f"{dataset}.csv" if ctx.manifest_dir else None
        kept = (len(pd.read_csv(manifest, usecols=["clip_id"]))
                if manifest is not None and manifest.is_file() else None)
        excluded = issues.loc[issues["clip_id"] != "", "clip_id"].nunique()
        reasons = (issues["reason"].str.replace(r"\(.*", "", regex=True).str.strip()
                   .value_counts().head(3))
        why = "; ".join(f"{md_escape(r)} ({n})" for r, n in reasons.items()) or "none"
        rows.append(f"| {_code(dataset)} | {kept if kept is not None else '?'} | {excluded} | {why} | "
                    f"[issues]({ctx.rel(issues_csv)}) |")
    if not rows:
        return ""
    return ("\n### Data\n\n| dataset | clips kept | clips excluded | most frequent reasons | list |\n"
            "|---|---:|---:|---|---|\n" + "\n".join(rows) + "\n")


# --------------------------------------------------------------------------------------------
# markdown -> HTML (the subset the report uses: headings, paragraphs, lists, tables, images,
# links, code spans, bold; everything else is escaped text)

_SAFE_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)")


def _safe_url(url: str) -> str:
    if _SAFE_URL.match(url) and not url.lower().startswith(("http:", "https:", "mailto:")):
        return "#"
    return url


def _inline(text: str) -> str:
    held: list[str] = []

    def hold(s: str) -> str:
        held.append(s)
        return f"\x00{len(held) - 1}\x00"

    text = re.sub(r"\\([\\`*\[\]|<>_#!()-])", lambda m: hold(html.escape(m.group(1))), text)
    text = re.sub(r"`([^`]+)`", lambda m: hold(f"<code>{html.escape(m.group(1))}</code>"), text)
    text = html.escape(text, quote=True)
    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)\)",
                  lambda m: hold(f'<img src="{_safe_url(m.group(2))}" alt="{m.group(1)}">'), text)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)",
                  lambda m: f'<a href="{_safe_url(m.group(2))}">{m.group(1)}</a>', text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    while "\x00" in text:
        text = re.sub(r"\x00(\d+)\x00", lambda m: held[int(m.group(1))], text)
    return text


def _cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


def markdown_to_html(md: str, title: str = "avrepro report") -> str:
    """A small, safe markdown-to-HTML converter for the report (all text is escaped)."""
    body: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            n = len(m.group(1))
            body.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
            i += 1
            continue
        if line.lstrip().startswith("|"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                block.append(lines[i])
                i += 1
            header = _cells(block[0])
            rule = _cells(block[1]) if len(block) > 1 else []
            aligns = ["right" if c.endswith(":") and not c.startswith(":") else "left" for c in rule]
            aligns += ["left"] * (len(header) - len(aligns))
            out = ["<table>", "<thead><tr>"
                   + "".join(f'<th style="text-align:{a}">{_inline(c)}</th>' for c, a in zip(header, aligns))
                   + "</tr></thead>", "<tbody>"]
            for row in block[2:]:
                out.append("<tr>" + "".join(f'<td style="text-align:{a}">{_inline(c)}</td>'
                                            for c, a in zip(_cells(row), aligns)) + "</tr>")
            body.append("\n".join(out + ["</tbody>", "</table>"]))
            continue
        if re.match(r"^\s*- ", line):
            items = []
            while i < len(lines) and re.match(r"^\s*- ", lines[i]):
                items.append(f"<li>{_inline(lines[i].strip()[2:])}</li>")
                i += 1
            body.append("<ul>\n" + "\n".join(items) + "\n</ul>")
            continue
        para = []
        while (i < len(lines) and lines[i].strip() and not re.match(r"^(#{1,6}\s|\s*\||\s*- )", lines[i])):
            para.append(lines[i].strip())
            i += 1
        body.append(f"<p>{_inline(' '.join(para))}</p>")
    style = ("body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em;"
             "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0}"
             "th,td{border:1px solid #ccc;padding:.3em .6em}th{background:#f3f3f3}"
             "img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# --------------------------------------------------------------------------------------------


def load_section(task: str) -> None:
    """Import ``avrepro.tasks.<task>.report`` (where a task registers its section), if it exists."""
    from importlib import import_module
    from importlib.util import find_spec

    name = f"avrepro.tasks.{task}.report"
    if task not in SECTIONS and find_spec(f"avrepro.tasks.{task}") and find_spec(name):
        import_module(name)


def build_report(cfg: dict, out_md: Path, metric_dir: Path, figure_dir: Path, table_dir: Path,
                 extra: dict | None = None, tasks: list[str] | None = None,
                 issues_dir: Path | None = None, manifest_dir: Path | None = None) -> str:
    """Write ``out_md`` and its HTML twin (``.html`` next to it); return the markdown.

    Args:
        cfg: the resolved configuration (profile, dataset, per-task sections).
        out_md: the markdown report (``reports/report.md``).
        metric_dir: ``reports/metrics`` (``<task>_<name>.json`` and per-clip CSVs).
        figure_dir: ``reports/figures`` (``<task>/*.png|mp4|wav``).
        table_dir: ``reports/tables``; section builders write their tables here.
        extra: run facts shown under "Run", label -> value (e.g. ``seed``, ``visual_weights``).
        tasks: the sections to build (default: ``cfg["tasks"]``).
        issues_dir, manifest_dir: ``reports/data_issues`` and ``data/manifests`` for the data
            summary (kept and excluded clips per dataset); omitted when not given.
    Raises:
        FileNotFoundError: a metric file the config implies is missing (named).
    """
    out_md = Path(out_md)
    ctx = ReportContext(cfg=cfg, out_md=out_md, metric_dir=Path(metric_dir),
                        figure_dir=Path(figure_dir), table_dir=Path(table_dir), extra=dict(extra or {}),
                        issues_dir=Path(issues_dir) if issues_dir else None,
                        manifest_dir=Path(manifest_dir) if manifest_dir else None)
    if tasks is None:
        from avrepro.tasks import TASKS

        known = list(TASKS) + [t for t in SECTIONS if t not in TASKS]  # plus plugged-in sections
        tasks = [t for t in cfg.get("tasks", known) if t in cfg]
    for t in tasks:
        load_section(t)
    unknown = [t for t in tasks if t not in SECTIONS]
    if unknown:
        raise ValueError(f"report: no section builder for task '{unknown[0]}' "
                         f"(registered: {', '.join(SECTIONS)})")
    profile, dataset = cfg.get("profile", "?"), cfg.get("dataset", "?")
    parts = ["# avrepro report\n",
             f"Profile {_code(profile)} on the {_code(dataset)} dataset. Every number and figure "
             "below is generated by the pipeline from the files it links; rerunning it with the "
             "same parameters gives the same report.\n",
             _run_facts(ctx)]
    parts += [SECTIONS[t](ctx) for t in tasks]
    md = "\n".join(p.rstrip("\n") + "\n" for p in parts)
    write_text(out_md, md)
    write_text(out_md.with_suffix(".html"), markdown_to_html(md, f"avrepro report ({profile})"))
    return md
