"""A copy of the project's workflow in a temporary folder, for tests that run Snakemake or DVC,
and the commands they run in it."""

from __future__ import annotations

import os
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


def metric_values(cwd: Path) -> dict[str, str]:
    """Every metric file of the tree at ``cwd``, name -> text."""
    return {p.name: p.read_text() for p in sorted((cwd / "reports/metrics").glob("*.json"))}


def report_and_metrics(cwd: Path) -> dict[str, str]:
    """What a reader compares of a run: ``reports/report.md`` and every metric file."""
    return {"report.md": (cwd / "reports/report.md").read_text()} | metric_values(cwd)
