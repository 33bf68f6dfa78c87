"""Wall time of every job of a finished Snakemake run, per rule and per task, from its log.

    python benchmarks/dag_times.py [--tree .] [--log .snakemake/log/<run>.snakemake.log]

Reads the newest ``.snakemake/log/*.snakemake.log`` of ``--tree`` (or ``--log``): each job's
start (``rule X:`` / ``localrule X:`` with its ``jobid``) and end (``Finished jobid``) lines,
stamped to the second. Prints the run's span, the slowest jobs, and the time per task (the
jobs whose rule or wildcards name it), so a profile's budget can be checked after ``make repro``.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")
TASKS = ("binaural", "separation", "sync", "spatial")


def parse(log: Path) -> list[dict]:
    """Jobs of one run: ``{"rule", "wildcards", "start", "end", "seconds"}`` (finished jobs only)."""
    stamp = None
    pending: dict | None = None
    started: dict[str, dict] = {}
    jobs = []
    for line in log.read_text().splitlines():
        if m := STAMP.match(line):
            stamp = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := START.match(line):
            pending = {"rule": m.group(1), "wildcards": "", "start": stamp}
        elif pending is not None and (m := WILDCARDS.match(line)):
            pending["wildcards"] = m.group(1)
        elif pending is not None and (m := JOBID.match(line)):
            started[m.group(1)] = pending
        elif (m := FINISHED.match(line)) and m.group(1) in started:
            job = started.pop(m.group(1))
            job["end"] = stamp
            job["seconds"] = (stamp - job["start"]).total_seconds()
            jobs.append(job)
        elif line and not line.startswith(" "):
            pending = None if not START.match(line) else pending
    return jobs


def task_of(job: dict) -> str:
    for task in TASKS:
        if task in job["rule"] or f"task={task}" in job["wildcards"]:
            return task
    return "data/report"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", default=".")
    ap.add_argument("--log", default=None)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)
    log = (
        Path(args.log)
        if args.log
        else max(Path(args.tree, ".snakemake/log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    )
    jobs = parse(log)
    if not jobs:
        raise SystemExit(f"{log}: no finished jobs found")
    span = (max(j["end"] for j in jobs) - min(j["start"] for j in jobs)).total_seconds()
    print(f"{log}: {len(jobs)} jobs, span {span / 60:.1f} min")
    print(f"\nslowest {args.top} jobs (s):")
    for j in sorted(jobs, key=lambda j: -j["seconds"])[: args.top]:
        print(f"  {j['seconds']:7.0f}  {j['rule']} {j['wildcards']}")
    per_task: dict[str, float] = defaultdict(float)
    per_rule: dict[str, float] = defaultdict(float)
    for j in jobs:
        per_task[task_of(j)] += j["seconds"]
        per_rule[j["rule"]] += j["seconds"]
    print("\njob seconds per task (jobs may overlap when --cores > threads):")
    for task, s in sorted(per_task.items(), key=lambda kv: -kv[1]):
        print(f"  {task:12s} {s:7.0f} s  ({s / 60:.1f} min)")
    print("\njob seconds per rule:")
    for rule, s in sorted(per_rule.items(), key=lambda kv: -kv[1]):
        print(f"  {rule:22s} {s:7.0f} s")


if __name__ == "__main__":
    main()
