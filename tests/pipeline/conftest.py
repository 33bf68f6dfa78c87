"""The smoke profile's whole DAG, run once per test session in a project copy: the pipeline test
files each work in a copy of it (:func:`helpers.project.copy_tree`)."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers.project import DVC, copy_project, copy_tree, run, snakemake


def build_smoke_tree(work: Path) -> float:
    """A copy of the project with the smoke profile selected, its dvc.yaml regenerated, in git,
    and the DAG run in it; returns the seconds the DAG took."""
    copy_project(work, DVC + ("Makefile",))
    raw = yaml.safe_load((work / "params.yaml").read_text())
    raw["profile"] = "smoke"
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run([sys.executable, "-m", "avrepro.dvcyaml"], work)
    run(["git", "init", "-q"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], work)
    start = time.monotonic()
    snakemake(work)
    return time.monotonic() - start


@pytest.fixture(scope="session")
def smoke_tree(tmp_path_factory) -> Path:
    """The smoke run's tree, built by the first pytest worker that asks (pytest-xdist: the others
    wait for it, then share it); never changed by a test. ``<tree>.seconds``: the DAG's time."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' common folder
    tree = shared / "smoke_tree"
    with open(shared / "smoke_tree.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tree.with_suffix(".seconds").exists():
            shutil.rmtree(tree, ignore_errors=True)  # what a failed build left
            seconds = build_smoke_tree(tree)
            tree.with_suffix(".seconds").write_text(f"{seconds:.1f}")
    return tree


@pytest.fixture(scope="module")
def workdir(smoke_tree, tmp_path_factory, request) -> Path:
    """A copy of the smoke tree for one test file, whose tests run in it in turn."""
    return copy_tree(smoke_tree, tmp_path_factory.mktemp(request.module.__name__) / "tree")
