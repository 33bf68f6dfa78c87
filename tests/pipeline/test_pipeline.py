"""The whole DAG on the smoke profile (the session's smoke tree, see conftest.py), then the
contract around it: nothing left to do after a run, a run of other tasks neither shows nor loses
this run's outputs, a run on another dataset in the same tree never mixes with it, the reviewer's
path (push -> delete -> pull -> `make report`) rebuilds figures and report and nothing else.
What reruns do (after kills, deletions, params edits; `dvc repro`, `dvc exp`): test_reruns.py."""

from __future__ import annotations

import json
import shutil
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from avrepro.config import load_params
from avrepro.tasks import get_task
from helpers.fairplay_fixture import make_fairplay
from helpers.project import (
    copy_project,
    executed_rules,
    make,
    metric_values,
    planned_rules,
    report_and_metrics,
    run,
    snakemake,
)

pytestmark = pytest.mark.slow

OUTPUT_DIRS = ["data", "models", "reports"]


def test_smoke_dag_completes(workdir, smoke_tree):
    # the time is printed, not asserted (benchmarks/dag_times.py measures it on a quiet machine)
    print(f"smoke DAG: {float(smoke_tree.with_suffix('.seconds').read_text()):.0f} s")
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


def test_snakemake_report_carries_the_figures_with_captions(workdir):
    """Snakemake's own report (the workflow catalog's convention): every figure PNG, captioned,
    and the project's report.html."""
    run([sys.executable, "-m", "snakemake", "--report", "report.zip"], workdir)
    with zipfile.ZipFile(workdir / "report.zip") as archive:
        names = archive.namelist()
        text = "".join(archive.read(n).decode(errors="ignore") for n in names if n.endswith((".js", ".html")))
    figures = {p.name for p in (workdir / "reports/figures").rglob("*.png")}
    assert figures and figures <= {Path(n).name for n in names}
    assert any(n.endswith("/report.html") and "/data/raw/" in n for n in names), names[:20]  # ours
    assert "training curves" in text and "metric tables" in text  # the two captions
    (workdir / "report.zip").unlink()


def test_a_run_of_other_tasks_shows_only_its_own_outputs(workdir):
    """`--config 'tasks=[binaural]'` in a tree that holds all four tasks' outputs: its report
    names binaural alone (run facts, data table, sections); switching back rebuilds only the
    report, and it is the same bytes as before."""
    before = (workdir / "reports/report.md").read_text()
    assert planned_rules(workdir, "--config", "tasks=[binaural]") == {"report"}
    snakemake(workdir, "--config", "tasks=[binaural]")
    report = (workdir / "reports/report.md").read_text()
    run_facts = report.split("## Run", 1)[1].split("\n## ", 1)[0].lower()
    assert "binaural/full" in run_facts
    for other in ("separation", "sync", "spatial", "synthetic_solo", "synthetic_foa"):
        assert other not in run_facts, other
    assert "## Binaural" in report and "## Separation" not in report
    assert planned_rules(workdir) == {"report"}
    snakemake(workdir)
    assert (workdir / "reports/report.md").read_text() == before


def _on_folder(folder: Path) -> list[str]:
    """`--config` of a smoke-profile, binaural-only run on a user's folder (FAIR-Play layout,
    `local`)."""
    folder_key = f"datasets={{local: {{path: {folder}}}}}"
    return ["--config", "profile=smoke", "tasks=[binaural]", "binaural={dataset: local}", folder_key]


def test_runs_in_one_tree_never_mix(workdir, tmp_path):
    """The smoke run (the fixture), a binaural-only run on a user's folder in the same tree, then
    the smoke run again. The folder's run gives the report and metric bytes of the same command in
    a fresh tree (its report names only its dataset and models, and says what the simulator's
    ground truth would have added); the last run gives the first's bytes."""
    make_fairplay(tmp_path / "fixture", n_clips=6)
    on_folder = _on_folder(tmp_path / "fixture/src")
    smoke = report_and_metrics(workdir)
    fresh = copy_project(tmp_path / "fresh")
    snakemake(fresh, *on_folder)
    report, expected = (fresh / "reports/report.md").read_text(), metric_values(fresh)
    assert "`local`" in report and "`synthetic`" not in report and "## Separation" not in report
    # the default variants run as they are: full without its RIR head, which the report says
    assert "which the simulator did not make" in report
    assert "rir_error" not in json.loads((fresh / "reports/metrics/binaural_full.json").read_text())
    assert (fresh / "reports/metrics/binaural_flipped.json").is_file()
    snakemake(workdir, *on_folder)
    assert (workdir / "reports/report.md").read_text() == report
    mixed = metric_values(workdir)
    assert {n: mixed[n] for n in expected} == expected
    assert {n for n in mixed if n.startswith("binaural_")} == set(expected)
    snakemake(workdir)
    assert report_and_metrics(workdir) == smoke


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
    # the reviewer's path: one command rebuilds every figure, table and the report, and no
    # training, evaluation or data job runs (the rule list is what Snakemake executed)
    start = time.monotonic()
    out = make(workdir, "report")
    print(f"make report after dvc pull: {time.monotonic() - start:.0f} s")
    cfg = load_params(workdir / "params.yaml")
    assert executed_rules(out.stdout + out.stderr) == {"report"} | {f"figures_{t}" for t in cfg["tasks"]}
    assert planned_rules(workdir) == set()
    assert metric_values(workdir) == before
    assert (workdir / "reports/report.md").read_text() == report
