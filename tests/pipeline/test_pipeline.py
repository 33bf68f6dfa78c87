"""The whole DAG on the smoke profile, then the contract around it: nothing left to do after a run,
a params change reruns only what it touches, `dvc repro` rebuilds the same metrics, and
push -> delete -> pull -> `snakemake --touch` restores a tree Snakemake considers complete."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from avrepro.config import load_params
from avrepro.tasks import get_task

pytestmark = pytest.mark.slow

COPY = ["Snakefile", "params.yaml", "workflow", "src", ".dvc/config", ".dvcignore", ".gitignore"]
OUTPUT_DIRS = ["data", "models", "reports"]


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "2",
            "--workflow-profile",
            "workflow/profiles/default",
            *args,
        ],
        cwd,
    )


def planned_rules(cwd: Path) -> set[str]:
    """Rules of the jobs a dry run would execute (from the job-stats table)."""
    out = snakemake(cwd, "-n").stdout
    if "Nothing to be done" in out:
        return set()
    table = re.split(r"^job\s+count\s*$", out, maxsplit=1, flags=re.M)[1]
    table = re.split(r"^total\s+\d+\s*$", table, maxsplit=1, flags=re.M)[0]
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M)}


def metric_values(cwd: Path) -> dict:
    return {p.name: p.read_text() for p in sorted((cwd / "reports/metrics").glob("*.json"))}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, root) -> Path:
    """A copy of the project with the smoke profile selected, its dvc.yaml regenerated, in git."""
    work = tmp_path_factory.mktemp("pipeline")
    for item in COPY:
        src, dst = root / item, work / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dst)
    raw = yaml.safe_load((work / "params.yaml").read_text())
    raw["profile"] = "smoke"
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run([sys.executable, "-m", "avrepro.dvcyaml"], work)
    run(["git", "init", "-q"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], work)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], work)
    start = time.monotonic()
    snakemake(work)
    work.joinpath(".smoke_seconds").write_text(f"{time.monotonic() - start:.1f}")
    return work


def test_smoke_dag_completes(workdir):
    # the time is printed, not asserted (benchmarks/dag_times.py measures it on a quiet machine)
    print(f"smoke DAG: {float((workdir / '.smoke_seconds').read_text()):.0f} s")
    report = (workdir / "reports/report.md").read_text()
    assert "## Binaural" in report and "| mono_mono |" in report
    cfg = load_params(workdir / "params.yaml")
    for task_name in cfg["tasks"]:  # every evaluated name of every task, with the task's keys
        task = get_task(task_name)
        for name in task.evaluated_names(cfg[task_name]):
            metrics = yaml.safe_load((workdir / f"reports/metrics/{task_name}_{name}.json").read_text())
            assert "n_clips" in metrics and set(task.metric_keys) & set(metrics), (task_name, name)
            assert all(f"{k}_sem" in metrics for k in task.metric_keys if k in metrics), (task_name, name)
        assert (workdir / "reports/figures" / task_name).is_dir()
    assert report.count("\n## ") >= 1 + len(cfg["tasks"])  # the run's facts, then one section a task
    assert list((workdir / "reports/figures/binaural").glob("*.mp4"))
    assert (workdir / "reports/figures/binaural/loss_curves.png").stat().st_size > 1000


def test_nothing_to_do_after_a_run(workdir):
    assert planned_rules(workdir) == set()


def test_dvc_push_delete_pull_touch(workdir):
    before = metric_values(workdir)
    report = (workdir / "reports/report.md").read_text()
    run(["dvc", "commit", "--force", "--quiet"], workdir)
    status = run(["dvc", "status"], workdir).stdout
    assert "up to date" in status, status
    metrics_show = run(["dvc", "metrics", "show"], workdir).stdout
    assert "binaural_full.json" in metrics_show and "stft_distance" in metrics_show
    run(["dvc", "plots", "show", "--out", "dvc_plots"], workdir)
    assert "loss" in (workdir / "dvc_plots/index.html").read_text()
    run(["dvc", "push", "--quiet"], workdir)
    for d in OUTPUT_DIRS:
        shutil.rmtree(workdir / d)
    run(["dvc", "pull", "--quiet"], workdir)
    snakemake(workdir, "--touch")
    assert planned_rules(workdir) == set()
    assert metric_values(workdir) == before
    assert (workdir / "reports/report.md").read_text() == report


def test_dvc_repro_rebuilds_the_same_metrics(workdir):
    """`dvc repro --force` of one model's evaluations rebuilds everything upstream of them (the
    synthetic data, its verification, split and cache, the training) and gives the same bytes.
    One chain, not the whole DAG: DVC runs stages one at a time, and the whole smoke DAG would
    double this test's time for the same check."""
    before = metric_values(workdir)
    targets = ["evaluate_binaural_full", "evaluate_binaural_flipped"]
    out = run(["dvc", "repro", "--force", *targets], workdir).stdout
    for stage in (
        "synthesize",
        "verify_synthetic",
        "split_synthetic",
        "cache_features_synthetic_train_binaural",
        "train_binaural_full",
        *targets,
    ):
        assert f"Running stage '{stage}'" in out, (stage, out[-3000:])
    assert metric_values(workdir) == before
    status = run(["dvc", "status", *targets], workdir).stdout
    assert "up to date" in status, status
    # the rebuilt upstream files are newer than the rest of the DAG's outputs: as after
    # `dvc pull`, `snakemake --touch` tells Snakemake they are current
    snakemake(workdir, "--touch")
    assert planned_rules(workdir) == set()


def test_learning_rate_change_reruns_only_binaural_training_downstream(workdir):
    raw = yaml.safe_load((workdir / "params.yaml").read_text())
    raw["profiles"]["smoke"]["binaural"]["train"]["lr_audio"] = 5e-4
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    rules = planned_rules(workdir)
    assert "train_binaural" in rules
    assert rules <= {
        "train_binaural",
        "evaluate_binaural",
        "figures_binaural",
        "demo_binaural",
        "report",
        "all",
    }, rules
