"""Metric tables: one row per model or baseline, mean ± SEM, relative change vs a reference.

:func:`metrics_table` returns numbers (a DataFrame); :func:`format_table` turns them into
display strings; :func:`write_table` writes the markdown (hand-written, no ``tabulate``) and
the numeric CSV atomically.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from avrepro.io import read_json, write_text

_ACRONYMS = {
    "stft": "STFT",
    "env": "ENV",
    "sdr": "SDR",
    "sir": "SIR",
    "sar": "SAR",
    "avc": "AVC",
    "avsa": "AVSA",
    "rir": "RIR",
    "cam": "CAM",
}


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of metric ``key`` is better (distances, errors, losses)."""
    return key.endswith(("_distance", "_error", "_loss")) or key in ("loss", "distance", "error")


def metric_label(key: str) -> str:
    """Human label of a metric key: ``stft_distance`` -> ``STFT distance``."""
    words = [_ACRONYMS.get(w, w) for w in key.split("_") if w]
    if not words:
        return key
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def read_metrics(path: str | Path) -> dict:
    """Read one flat metric JSON file (error names the file)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of metrics, got {type(data).__name__}")
    return data


def _number(value, path, key) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}: metric '{key}' is not a number ({value!r})")
    return float(value)


def metrics_table(
    metric_files: dict[str, Path],
    keys: list[str],
    reference: str | None = None,
    order: Sequence[str] | None = None,
    baselines: Iterable[str] = (),
    relative_keys: Sequence[str] | None = None,
    controls: Iterable[str] = (),
) -> pd.DataFrame:
    """Collect metric files into one table.

    Args:
        metric_files: row name (model or baseline) -> its flat metric JSON.
        keys: metrics to tabulate; ``<key>_sem`` is read alongside when present.
        reference: the row that relative changes are computed against (e.g. ``mono_mono``).
        order: explicit row order (names not listed follow in input order).
        baselines: names that are baselines; without ``order`` they come first.
        relative_keys: keys that get a ``<key>_rel_pct`` column (default: the first key).
        controls: names that are controls (e.g. ``audio_only``); without ``order`` they follow
            the baselines.
    Returns:
        columns ``name``, ``kind`` (baseline | control | model), ``n_clips``, and per key
        ``<key>``, ``<key>_sem`` (NaN if absent) and, for relative keys,
        ``<key>_rel_pct`` = 100 (x - ref) / |ref|.
        ``df.attrs`` holds ``keys``, ``reference`` and ``relative_keys``.
    """
    if not metric_files:
        raise ValueError("metrics_table: no metric files given")
    if not keys:
        raise ValueError("metrics_table: no metric keys given")
    baselines, controls = list(baselines), list(controls)
    relative_keys = list(keys[:1] if relative_keys is None else relative_keys)
    names = _row_order(list(metric_files), order, baselines, controls)
    if reference is not None and reference not in metric_files:
        raise ValueError(f"metrics_table: reference '{reference}' is not among the rows ({', '.join(names)})")
    rows = [_table_row(name, Path(metric_files[name]), keys, baselines, controls) for name in names]
    missing = [k for k in keys if not any(k in r["_present"] for r in rows)]
    if missing:
        raise ValueError(
            f"metric '{missing[0]}' is in none of: " + ", ".join(str(metric_files[n]) for n in names)
        )
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "_present"} for r in rows])
    for key in relative_keys:
        df[f"{key}_rel_pct"] = _relative_pct(df, key, reference)
    columns = ["name", "kind", "n_clips"]
    for key in keys:
        columns += [key, f"{key}_sem"] + ([f"{key}_rel_pct"] if key in relative_keys else [])
    df = df[columns]
    df.attrs.update(keys=list(keys), reference=reference, relative_keys=relative_keys)
    return df


def _row_order(
    names: list[str], order: Sequence[str] | None, baselines: list[str], controls: list[str]
) -> list[str]:
    """``order`` first (then the rest as given), or baselines, controls, models (stable)."""
    if order is not None:
        return [n for n in order if n in names] + [n for n in names if n not in order]
    rank = {n: 0 if n in baselines else 1 if n in controls else 2 for n in names}
    return sorted(names, key=lambda n: rank[n])


def _table_row(name: str, path: Path, keys: Sequence[str], baselines: list[str], controls: list[str]) -> dict:
    """One table row read from a metric file (``_present``: the keys the file has)."""
    data = read_metrics(path)
    kind = "baseline" if name in baselines else "control" if name in controls else "model"
    row = {
        "name": name,
        "kind": kind,
        "n_clips": _number(data.get("n_clips"), path, "n_clips"),
        "_present": {k for k in keys if k in data},
    }
    for key in keys:
        row[key] = _number(data.get(key), path, key)
        row[f"{key}_sem"] = _number(data.get(f"{key}_sem"), path, f"{key}_sem")
    return row


def _relative_pct(df: pd.DataFrame, key: str, reference: str | None):
    """100 (x - ref) / |ref| of column ``key`` against the ``reference`` row (NaN without one)."""
    if reference is None:
        return math.nan
    ref = float(df.loc[df["name"] == reference, key].iloc[0])
    ok = math.isfinite(ref) and ref != 0
    return 100.0 * (df[key] - ref) / abs(ref) if ok else math.nan


def sem_decimals(sem: float | None) -> int | None:
    """Decimals that show ``sem`` to two significant digits (2 to 6; ``None`` if no SEM)."""
    if sem is None or not math.isfinite(sem) or sem <= 0:
        return None
    return min(max(1 - math.floor(math.log10(sem)), 2), 6)


def fmt_mean_sem(mean: float, sem: float | None = None, decimals: int | None = None) -> str:
    """``1.024 ± 0.012``: by default the SEM to two significant digits, the mean alike."""
    if mean is None or not math.isfinite(mean):
        return "–"
    has_sem = sem is not None and math.isfinite(sem) and sem > 0
    decimals = decimals if decimals is not None else sem_decimals(sem)
    if decimals is None:
        return f"{mean:.4g}"
    return f"{mean:.{decimals}f} ± {sem:.{decimals}f}" if has_sem else f"{mean:.{decimals}f}"


def fmt_pct(value: float) -> str:
    """``-12.3 %`` (sign always shown), ``–`` when undefined."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.1f} %"


def format_table(df: pd.DataFrame) -> pd.DataFrame:
    """Display strings for a :func:`metrics_table` frame (arrows mark the better direction)."""
    keys = df.attrs.get("keys") or [c for c in df.columns if f"{c}_sem" in df.columns]
    reference = df.attrs.get("reference")
    rel_keys = df.attrs.get("relative_keys") or [c[:-8] for c in df.columns if c.endswith("_rel_pct")]
    out = pd.DataFrame({"model": df["name"], "kind": df["kind"]})
    for key in keys:
        arrow = "↓" if lower_is_better(key) else "↑"
        found = [d for d in map(sem_decimals, df[f"{key}_sem"]) if d is not None]
        decimals = max(found) if found else None  # one precision per column: aligned digits
        out[f"{metric_label(key)} {arrow} (mean ± SEM)"] = [
            fmt_mean_sem(m, s, decimals) for m, s in zip(df[key], df[f"{key}_sem"], strict=False)
        ]
        if key in rel_keys and reference and f"{key}_rel_pct" in df.columns:
            col = f"Δ {metric_label(key).split(' ')[0]} vs {reference}" if reference else "Δ"
            rel = zip(df["name"], df[f"{key}_rel_pct"], strict=False)
            out[col] = ["ref." if n == reference else fmt_pct(v) for n, v in rel]
    out["clips"] = ["–" if not math.isfinite(v) else str(int(v)) for v in df["n_clips"]]
    return out


def _cell(text) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence], align: Sequence[str] | None = None
) -> str:
    """A GitHub-flavoured markdown table; ``align`` per column is ``l`` or ``r``."""
    header = [_cell(h) for h in header]
    align = list(align or ["l"] * len(header))
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"markdown_table: row {list(row)} has {len(row)} cells, expected {len(header)}")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def table_markdown(df: pd.DataFrame) -> str:
    """The markdown of a :func:`metrics_table` frame (formatted with :func:`format_table`)."""
    shown = format_table(df)
    align = ["l", "l"] + ["r"] * (shown.shape[1] - 2)
    return markdown_table(list(shown.columns), shown.itertuples(index=False, name=None), align)


def write_table(df: pd.DataFrame, md_path: str | Path, csv_path: str | Path) -> None:
    """Write a :func:`metrics_table` frame as markdown (formatted) and CSV (numbers), atomically."""
    write_text(md_path, table_markdown(df))
    write_text(csv_path, df.to_csv(index=False, lineterminator="\n", float_format="%.6g"))
