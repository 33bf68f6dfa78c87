"""One summary of per-clip values for every task's metric file (DESIGN 2.1 keys).

For each key: the mean, the standard deviation (ddof 1) and the standard error over the clips
that have a finite value (``<key>``, ``<key>_std``, ``<key>_sem``); ``n_clips`` counts the rows.
The NaN rule, the same everywhere: a missing or non-finite value (a clip without boxes, a silent
source) is left out of that key's statistics, and a key with no finite value at all is left out
of the summary. A spread below 1e-12 (constant values) is written as exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy.special import stdtrit


def finite_values(rows: list[dict], key: str) -> np.ndarray:
    """The finite values of ``key`` over ``rows`` (rows without it are skipped)."""
    values = np.array([r.get(key, np.nan) for r in rows], dtype=np.float64)
    return values[np.isfinite(values)]


def mean_std_sem(values) -> tuple[float, float, float]:
    """Mean, std (ddof 1; 0 for one value or a spread under 1e-12) and SEM of the finite
    ``values``; NaNs when there is none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, math.nan, math.nan
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    std = 0.0 if std < 1e-12 else std
    return float(values.mean()), std, std / math.sqrt(len(values))


def summarize(rows: list[dict], keys: Iterable[str]) -> dict:
    """``n_clips`` and, per key with a finite value, ``<key>``, ``<key>_std``, ``<key>_sem``."""
    out: dict = {"n_clips": len(rows)}
    for key in keys:
        mean, std, sem = mean_std_sem(finite_values(rows, key))
        if math.isfinite(mean):
            out[key], out[f"{key}_std"], out[f"{key}_sem"] = mean, std, sem
    return out


def t_interval(
    summary: dict, key: str, n: int, level: float = 0.95, bounds: tuple[float, float] = (0.0, 1.0)
) -> dict:
    """``<key>_ci_low`` / ``<key>_ci_high``: the Student-t ``level`` interval of the mean from its
    SEM over ``n`` clips, clipped to ``bounds``; empty when it cannot be computed."""
    if key not in summary or n < 2:
        return {}
    half = float(stdtrit(n - 1, 0.5 + level / 2)) * summary[f"{key}_sem"]
    return {
        f"{key}_ci_low": max(bounds[0], summary[key] - half),
        f"{key}_ci_high": min(bounds[1], summary[key] + half),
    }
