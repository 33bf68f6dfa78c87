"""Published numbers beside ours, the same way in every task's report section: a table per
protocol (the papers' numbers, their source, ours on the run's dataset) and, when the run follows
that protocol on the paper's dataset, a verdict line per method and metric
(:func:`~avrepro.report.kit.range_verdict`). A task's ``published.py`` holds its numbers and decides
which protocol a run follows."""

from __future__ import annotations

from dataclasses import dataclass

from avrepro.figures.tables import fmt_mean_sem, markdown_table
from avrepro.report.kit import code, range_verdict


@dataclass(frozen=True)
class Published:
    """One method's published numbers under one protocol."""

    method: str  # the paper's name for it
    ours: str  # the variant or baseline of ours that is the same method
    values: dict[str, tuple[float, float]]  # metric key -> published (low, high)
    source: str  # paper and table


@dataclass(frozen=True)
class Tolerance:
    """How far outside a published range still counts as within it: ``amount`` as a share of each
    end (``relative``) or in the metric's unit; ``text`` says it in the report (``±5 %``)."""

    amount: float
    relative: bool
    text: str


def span(low: float, high: float, digits: int) -> str:
    """A published range as the report writes it: one number when ``low == high``."""
    return f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}-{high:.{digits}f}"


def published_table(
    title: str,
    rows: list[Published],
    metrics: dict[str, dict],
    labels: dict[str, str],
    dataset: str,
    digits: int,
) -> str:
    """``title:`` and a table of ``rows``: per method its published ``labels`` keys, the source,
    and ours (mean ± SEM) on ``dataset``."""
    keys = list(labels)
    out = []
    for row in rows:
        mine = metrics.get(row.ours) or {}
        cells = [row.method] + [span(*row.values[k], digits) for k in keys] + [row.source, code(row.ours)]
        out.append(cells + [fmt_mean_sem(mine[k], mine.get(f"{k}_sem")) if k in mine else "–" for k in keys])
    headers = ["method"] + [f"{labels[k]} (published)" for k in keys] + ["source", f"ours on {dataset}"]
    return f"{title}:\n\n" + markdown_table(
        headers + [labels[k] for k in keys], out, ["l"] + ["r"] * len(keys) + ["l", "l"] + ["r"] * len(keys)
    )


def verdict_lines(
    rows: list[Published],
    metrics: dict[str, dict],
    labels: dict[str, str],
    lower_is_better: bool,
    tolerance: Tolerance,
    digits: int,
) -> str:
    """A line per method and metric of ours: within, better or worse than the published range
    widened by ``tolerance``."""
    lines = []
    for row in rows:
        for key, name in labels.items():
            value = (metrics.get(row.ours) or {}).get(key)
            if value is None:
                continue
            low, high = row.values[key]
            if tolerance.relative:
                word = range_verdict(value, low, high, lower_is_better, tolerance=tolerance.amount)
            else:
                word = range_verdict(value, low - tolerance.amount, high + tolerance.amount, lower_is_better)
            lines.append(
                f"- {row.method} ({code(row.ours)}), {name}: {value:.{digits}f} is **{word}** the "
                f"published {span(low, high, digits)} ({tolerance.text})."
            )
    return "\n".join(lines) + "\n" if lines else "No metric of ours to compare yet.\n"


def departures(items: tuple[str, ...]) -> str:
    """Where our evaluation departs, on purpose, from the official code's, one bullet each."""
    if not items:
        return ""
    return (
        "Where our evaluation departs from the official code (on purpose):\n\n"
        + "\n".join(f"- {item}" for item in items)
        + "\n"
    )
