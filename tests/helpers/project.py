"""A copy of the project's workflow in a temporary folder, for tests that run Snakemake or DVC."""

from __future__ import annotations

import shutil
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
