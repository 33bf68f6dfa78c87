"""The report kit: what every task's report section uses to load its metrics and write its
tables, so that a section keeps only its own prose (see :meth:`avrepro.tasks.base.Task.report_section`)."""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from avrepro.figures.tables import metrics_table, read_metrics, table_markdown, write_table


@dataclass(frozen=True)
class ReportContext:
    """What a section builder needs: the resolved config and where inputs and outputs live."""

    cfg: dict
    out_md: Path
    metric_dir: Path
    figure_dir: Path
    table_dir: Path
    extra: dict = field(default_factory=dict)
    issues_dir: Path | None = None  # reports/data_issues (one CSV per dataset)
    manifest_dir: Path | None = None  # data/manifests
    demo_dir: Path | None = None  # reports/demos (one folder per task, demo.json)

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

    def metric_files(self, task: str, names: list[str]) -> dict[str, Path]:
        """``{name: metric file}`` of a task's evaluated ``names``; raise ``FileNotFoundError``
        naming the first one that is missing, or ``ValueError`` when there is none to show."""
        if not names:
            raise ValueError(f"report: {task}.variants and {task}.baselines are both empty")
        files = {n: self.metric_file(task, n) for n in names}
        for path in files.values():
            if not path.is_file():
                raise FileNotFoundError(f"{path}: {task} metric file not found")
        return files


def load_metrics(files: dict[str, Path]) -> dict[str, dict]:
    """``{name: metrics}`` read from ``{name: metric file}``."""
    return {n: read_metrics(p) for n, p in files.items()}


def present_keys(keys, metrics: dict[str, dict]) -> list[str]:
    """The ``keys`` that at least one of the metric dicts has, in the order given."""
    return [k for k in keys if any(k in m for m in metrics.values())]


def task_table(
    ctx: ReportContext, task: str, files: dict[str, Path], keys: list[str], **table_kw
) -> tuple[pd.DataFrame, str]:
    """The task's metric table (:func:`avrepro.figures.tables.metrics_table` with ``table_kw``)
    written to ``<table_dir>/<task>_metrics.{md,csv}``: the numbers and the markdown block that
    shows the table with links to both files."""
    df = metrics_table(files, keys, **table_kw)
    md_table, csv_table = ctx.table_dir / f"{task}_metrics.md", ctx.table_dir / f"{task}_metrics.csv"
    write_table(df, md_table, csv_table)
    return df, (
        table_markdown(df)
        + "\n"
        + f"Table files: [markdown]({ctx.rel(md_table)}), [CSV]({ctx.rel(csv_table)}).\n"
    )


def clip_counts(metrics: dict[str, dict]) -> list[int]:
    """The distinct ``n_clips`` of the metric dicts, sorted."""
    return sorted({int(m["n_clips"]) for m in metrics.values() if "n_clips" in m})


def clips_phrase(counts: list[int], what: str = "test clips") -> str:
    """``"128 test clips"`` when every row was scored on the same number, else ``"the test clips"``."""
    return f"{counts[0]} {what}" if len(counts) == 1 else f"the {what}"


def md_escape(text) -> str:
    """Escape characters that markdown or HTML would interpret in free text."""
    return re.sub(r"([\\`*\[\]|<>])", r"\\\1", str(text))


def code(name: str) -> str:
    """``name`` as a markdown code span (backticks inside it dropped)."""
    return f"`{str(name).replace('`', '')}`"


def label(key: str) -> str:
    """``some_key`` -> ``Some key``."""
    return key.replace("_", " ").strip().capitalize()


def range_verdict(value: float, low: float, high: float, lower_is_better: bool, tolerance: float = 0) -> str:
    """Where ``value`` falls against a published range ``[low, high]`` widened by ``tolerance``
    (a fraction of each end): ``"within"``, ``"better than"`` or ``"worse than"``."""
    if low - tolerance * abs(low) <= value <= high + tolerance * abs(high):
        return "within"
    return "better than" if (value < low) == lower_is_better else "worse than"
