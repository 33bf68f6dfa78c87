"""Run every benchmark (issue 8) and write reports/benchmarks.md; `make bench` calls this.

    python benchmarks/run_all.py --tree /path/to/complete/default/tree [--quick]

--tree is an output tree where the default profile has run (data/, models/, reports/): the data
path, DAG overhead and evaluation benchmarks read it; training throughput needs no data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dag_overhead  # noqa: E402
import data_path  # noqa: E402
import eval_time  # noqa: E402
import train_throughput  # noqa: E402
from _common import REPORT  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", default=".", help="a complete output tree (a checkout after a run)")
    ap.add_argument(
        "--quick", action="store_true", help="shorter measurements (5 s per training shape, 5 clips)"
    )
    args = ap.parse_args(argv)
    tree = ["--tree", args.tree]
    data_path.main(tree)
    train_throughput.main(["--seconds", "5" if args.quick else "20"])
    dag_overhead.main(tree)
    eval_time.main(tree + ["--clips", "5" if args.quick else "20"])
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
