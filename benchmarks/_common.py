"""Shared helpers of the benchmark scripts: where results go and how the report is assembled.

Each script prints its figures, stores them in ``reports/benchmarks/<name>.json`` and rewrites
``reports/benchmarks.md`` from every stored result, so the scripts run alone or together
(``make bench`` / ``python benchmarks/run_all.py``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "reports" / "benchmarks"
REPORT = ROOT / "reports" / "benchmarks.md"
ORDER = ["data_path", "train_throughput", "dag_overhead", "eval_time"]


def machine() -> str:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores visible, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {gpu}"
    )


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def save(name: str, title: str, lines: list[str], figures: dict) -> None:
    """Print ``lines``, store the result and rewrite the markdown report."""
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "title": title,
        "lines": lines,
        "figures": figures,
        "machine": machine(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    tmp = RESULTS / f".{name}.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(tmp, RESULTS / f"{name}.json")
    write_report()


def write_report() -> None:
    records = {p.stem: json.loads(p.read_text()) for p in RESULTS.glob("*.json")}
    names = [n for n in ORDER if n in records] + sorted(set(records) - set(ORDER))
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python benchmarks/run_all.py --tree PATH`); each section "
        "by its script in `benchmarks/`. Figures are from one run on the machine named in each "
        "section; the CPU is shared, so expect some run-to-run spread.",
        "",
    ]
    for n in names:
        r = records[n]
        out += [f"## {r['title']}", "", f"_{r['when']}, {r['machine']}_", ""]
        out += ["```", *r["lines"], "```", ""]
    tmp = REPORT.with_suffix(".md.tmp")
    tmp.write_text("\n".join(out))
    os.replace(tmp, REPORT)


def tree_paths(tree: Path, dataset: str = "synthetic") -> dict[str, Path]:
    return {
        "params": tree / "params.yaml",
        "manifest": tree / f"data/manifests/{dataset}.csv",
        "cache": tree / f"data/cache/{dataset}",
        "models": tree / "models",
    }


def add_tree_argument(ap, help_: str = "an output tree of the pipeline") -> None:
    """``--tree``: the output tree a benchmark reads (default: this checkout)."""
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1], help=help_)


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise SystemExit(
            f"{path}: missing ({what}); run the pipeline first (`make repro`) or "
            f"point --tree at a complete output tree"
        )
    return path


def tree_cache(tree: Path, path: Path, what: str):
    """The feature cache at ``path`` of ``tree``, its clips' meta read from the tree's raw data
    (the cache index stores the raw folder relative to the tree's root)."""
    from avrepro.data.cache import FeatureCache

    cache = FeatureCache(require(path, what))
    if not cache.raw_dir.is_absolute():
        cache.raw_dir = tree / cache.raw_dir
    return cache
