"""A copy of the project's workflow in a temporary folder, for tests that run Snakemake or DVC,
the commands they run in it and what they read of their output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

WORKFLOW = ("Snakefile", "params.yaml", "workflow", "src")
DVC = (".dvc/config", ".dvcignore", ".gitignore")


def copy_project(dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """Copy the workflow (``WORKFLOW``) and ``extra`` items of the repository into ``dest``."""
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for item in WORKFLOW + tuple(extra):
        src, dst = ROOT / item, Path(dest) / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=skip)
        else:
            shutil.copy(src, dst)
    return Path(dest)


def copy_tree(tree: Path, dest: Path) -> Path:
    """A copy of a run's tree (outputs, ``.snakemake``, ``.dvc``, ``.git``) with the modification
    times kept, so Snakemake finds in it what it found in ``tree``."""
    shutil.copytree(tree, dest, symlinks=True)
    return dest


def env() -> dict:
    """The environment with this interpreter's ``bin`` first on PATH (``python``, ``avrepro``,
    ``dvc`` of the test run's venv)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """``cmd`` in ``cwd``; a failure (when ``check``) shows its output and the rules' logs."""
    proc = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted((cwd / "reports/logs").glob("*.log"))
        )
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output}\n{logs}")
    return proc


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Snakemake on 2 cores with the project's workflow profile (as ``make repro``)."""
    profile = ["--workflow-profile", "workflow/profiles/default"]
    return run([sys.executable, "-m", "snakemake", "--cores", "2", *profile, *args], cwd)


def task_on(task: str, dataset: str, section: str) -> tuple[str, ...]:
    """`--config` of a smoke-profile run of ``task`` alone on ``dataset`` (``datasets.<dataset>``
    from ``section``, a YAML flow mapping)."""
    datasets = f"datasets={{{dataset}: {section}}}"
    return ("--config", "profile=smoke", f"tasks=[{task}]", f"{task}={{dataset: {dataset}}}", datasets)


def metric_values(cwd: Path) -> dict[str, str]:
    """Every metric file of the tree at ``cwd``, name -> text."""
    return {p.name: p.read_text() for p in sorted((cwd / "reports/metrics").glob("*.json"))}


def report_and_metrics(cwd: Path) -> dict[str, str]:
    """What a reader compares of a run: ``reports/report.md`` and every metric file."""
    return {"report.md": (cwd / "reports/report.md").read_text()} | metric_values(cwd)


def make(cwd: Path, target: str) -> subprocess.CompletedProcess:
    """A README command (`make repro`, `make report`) with this interpreter's environment."""
    return run(["make", target, f"BIN={Path(sys.executable).parent}", "STAMP=", "CORES=2"], cwd)


def executed_rules(text: str) -> set[str]:
    """Rules of the jobs a Snakemake run executed (its `rule NAME:` job headers)."""
    return set(re.findall(r"^(?:local)?rule (\w+):$", text, re.M)) - {"all"}


def planned_rules(cwd: Path, *args: str) -> set[str]:
    """Rules of the jobs a dry run would execute (from the job-stats table; the target rule
    `all` left out)."""
    out = snakemake(cwd, "-n", *args).stdout
    if "Nothing to be done" in out:
        return set()
    table = re.split(r"^job\s+count\s*$", out, maxsplit=1, flags=re.M)[1]
    table = re.split(r"^total\s+\d+\s*$", table, maxsplit=1, flags=re.M)[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M)} - {"all"}


def dvc_commit(cwd: Path) -> None:
    """Record the tree in DVC's cache; `dvc commit` relinks the outputs it caches (new
    modification times), so `snakemake --touch` tells Snakemake they are current again."""
    run(["dvc", "commit", "--force", "--quiet"], cwd)
    snakemake(cwd, "--touch")
