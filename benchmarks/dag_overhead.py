"""DAG overhead on a complete output tree: wall time of `snakemake -n` and of `dvc status`.

    python benchmarks/dag_overhead.py --tree /path/to/complete/tree [--repeat 3]

Both commands only read the tree (they keep their own bookkeeping under .snakemake/ and
.dvc/tmp/). The first run of each is reported separately from the best of the repeats
(file-system caches warm).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import require, save  # noqa: E402


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout + proc.stderr


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--tree", type=Path, default=Path("."), help="a complete output tree (a checkout after a run)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="dry runs per command (the best is reported)")
    args = ap.parse_args(argv)
    tree = args.tree.resolve()
    require(tree / "Snakefile", "Snakefile")
    require(tree / "reports/report.md", "a complete tree ends with reports/report.md")
    bindir = Path(sys.executable).parent
    commands = {
        "snakemake -n": [str(bindir / "snakemake"), "-n", "--cores", "1"],
        "dvc status": [str(bindir / "dvc"), "status"],
    }
    lines, figures = [f"complete tree: {tree}"], {}
    for name, cmd in commands.items():
        runs = [timed(cmd, tree) for _ in range(max(1, args.repeat))]
        times = [t for t, _ in runs]
        out = runs[-1][1]
        if name.startswith("snakemake"):
            complete = "Nothing to be done" in out
        else:
            complete = "up to date" in out.lower()
        figures[name] = {"first_s": times[0], "best_s": min(times), "runs": times, "complete": complete}
        state = (
            "nothing to do"
            if complete
            else "the tree is NOT up to date: " + out.strip().splitlines()[-1][:80]
        )
        lines.append(
            f"  {name:13s} first {times[0]:6.2f} s, best of {len(times)} {min(times):6.2f} s   ({state})"
        )
    save("dag_overhead", "DAG overhead on a complete tree", lines, figures)
    return figures


if __name__ == "__main__":
    main()
