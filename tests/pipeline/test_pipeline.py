"""The whole DAG on the smoke profile, then the contract around it: nothing left to do after a run,
a run of other tasks neither shows nor loses this run's outputs, a run on another dataset in the
same tree never mixes with it, the reviewer's path (push -> delete -> pull -> `make report`)
rebuilds figures and report and nothing else, `dvc repro` rebuilds the same metrics, kills during
training lose nothing, deleted outputs and params edits are seen by Snakemake and DVC alike."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from avrepro.config import load_params
from avrepro.io import CONTENTS
from avrepro.runguard import processes_in
from avrepro.tasks import get_task
from helpers.fairplay_fixture import make_fairplay
from helpers.project import DVC, copy_project, env, metric_values, report_and_metrics, run, snakemake

pytestmark = pytest.mark.slow

OUTPUT_DIRS = ["data", "models", "reports"]


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


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of the project with the smoke profile selected, its dvc.yaml regenerated, in git."""
    work = copy_project(tmp_path_factory.mktemp("pipeline"), DVC + ("Makefile",))
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


def _train_processes(workdir: Path) -> list[int]:
    """Live `python -m avrepro train` processes working in ``workdir``."""
    return processes_in(workdir, lambda argv: "avrepro" in argv and "train" in argv)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _text(path: Path) -> str:
    """The file's text, empty while it does not exist (Snakemake removes a job's old log as the
    job starts)."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    """``cmd`` in a process group of its own (so that the group can be killed)."""
    return subprocess.Popen(
        cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _killed_while(proc: subprocess.Popen, workdir: Path, ready, what: str, group: bool) -> None:
    """``kill -9`` Snakemake alone or its whole group once ``ready()``; then no training job may
    live on or write (its checkpoint is left as it was)."""
    try:
        _wait(lambda: ready() and _train_processes(workdir), 300, what)
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if group else os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    _wait(lambda: not _train_processes(workdir), 30, "the training job to stop")
    partial = workdir / "models/binaural/full/.partial/last.pt"
    stamp = partial.stat().st_mtime_ns
    time.sleep(2)
    assert partial.stat().st_mtime_ns == stamp and not _train_processes(workdir)
    assert list((workdir / ".snakemake/locks").glob("*.lock")), "the killed run left no lock"


def test_kills_during_training_lose_nothing(workdir):
    """While binaural `full` trains: `kill -9` of Snakemake alone (its job stops itself), then,
    during `make repro`'s resumed training, of the whole process group. No job writes after a
    kill, `make repro` needs no manual --unlock, resumes from the checkpoint and ends with the
    same metric bytes as the uninterrupted run."""
    before = metric_values(workdir)
    model = (workdir / "models/binaural/full/best.pt").read_bytes()
    partial = workdir / "models/binaural/full/.partial/last.pt"
    log = workdir / "reports/logs/train_binaural_full.log"
    snakemake_cmd = [sys.executable, "-m", "snakemake", "--cores", "2"]
    forced = ["--workflow-profile", "workflow/profiles/default", "--forcerun", "models/binaural/full/best.pt"]
    proc = _start(snakemake_cmd + forced, workdir)
    _killed_while(proc, workdir, partial.exists, "a training checkpoint", group=False)
    repro = ["make", "repro", f"BIN={Path(sys.executable).parent}", "STAMP=", "CORES=2"]
    proc = _start(repro, workdir)
    _killed_while(
        proc,
        workdir,
        lambda: "resuming binaural/full" in _text(log),
        "the resumed training",
        group=True,
    )
    out = make(workdir, "repro")
    assert "removed a stale Snakemake lock" in out.stdout
    assert metric_values(workdir) == before
    assert (workdir / "models/binaural/full/best.pt").read_bytes() == model  # the same checkpoint
    assert planned_rules(workdir) == set()


@pytest.fixture(scope="module")
def committed(workdir) -> Path:
    """The smoke tree recorded in DVC's cache, once for the tests that use it: each deleted-output
    case restores what it deleted; the learning-rate test, the last, edits params.yaml (the
    experiment test puts it back)."""
    dvc_commit(workdir)
    return workdir


@pytest.mark.parametrize(
    "deleted, jobs, stages",
    [
        (
            "reports/metrics/binaural_mono_mono.json",  # and its _clips.csv, which the figures read
            {"baseline_binaural", "figures_binaural", "report"},
            {"baseline_binaural_mono_mono", "report"},
        ),
        (
            "models/binaural/backbone/best.pt",
            {"train_binaural", "evaluate_binaural", "figures_binaural", "report"},
            {"train_binaural_backbone", "evaluate_binaural_backbone"},
        ),
        (  # a file inside a folder output: its record (avrepro.io.CONTENTS) says it is gone
            "data/cache/synthetic/test/binaural/audio_00000.npy",
            {"cache_features", "baseline_binaural", "evaluate_binaural", "figures_binaural", "report"},
            {"cache_features_synthetic_test_binaural", "baseline_binaural_mono_mono"}
            | {f"evaluate_binaural_{n}" for n in ("backbone", "full", "flipped")}
            | {"figures_binaural"},
        ),
        (
            "reports/figures/binaural/loss_curves.png",
            {"figures_binaural", "report"},
            {"figures_binaural", "report"},
        ),
    ],
)
def test_a_deleted_output_is_seen_by_snakemake_and_dvc(committed, deleted, jobs, stages):
    """Snakemake plans the job that makes the file and every job after it; DVC names the stage
    that makes it and the stages that read it."""
    workdir = committed
    assert planned_rules(workdir) == set()
    (workdir / deleted).unlink()
    assert planned_rules(workdir) == jobs
    status = run(["dvc", "status"], workdir).stdout
    assert set(re.findall(r"^(\w+):", status, re.M)) == stages, status
    folder = Path(deleted).parent  # DVC restores a folder output whole
    output = str(folder) if (workdir / folder / CONTENTS).exists() else deleted
    run(["dvc", "checkout", "--quiet", output], workdir)
    snakemake(workdir, "--touch")  # the restored file is current again
    assert planned_rules(workdir) == set()


def test_learning_rate_change_reruns_only_binaural_training_downstream(committed):
    workdir = committed
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
    # DVC sees the profile's own key as well: the binaural trainings (and the report, which reads
    # the whole configuration) are the stages whose params changed
    status = run(["dvc", "status"], workdir).stdout
    stages = set(re.findall(r"^(\w+):", status, re.M))
    assert stages == {"train_binaural_backbone", "train_binaural_full", "report"}, status


def test_dvc_experiment_compares_a_param_change(workdir):
    """`dvc exp run -S KEY=VALUE STAGE` (here the smoke profile's binaural window hop, for the
    `full` model's evaluation alone: which stages a key reaches is the test above); `dvc exp show
    --only-changed` and `dvc metrics diff` compare the experiment with the committed baseline."""
    run(["git", "checkout", "--", "params.yaml"], workdir)
    dvc_commit(workdir)
    for git in (["add", "-A"], ["commit", "-qm", "baseline", "--allow-empty"]):
        run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *git], workdir)
    key = "profiles.smoke.binaural.eval.hop_seconds"  # -S overrides a key params.yaml has
    stage = "evaluate_binaural_full"
    out = run(["dvc", "exp", "run", "--name", "hop-0.1", "-S", f"{key}=0.1", stage], workdir).stdout
    assert set(re.findall(r"Running stage '(\w+)'", out)) == {stage}, out
    show = run(["dvc", "exp", "show", "--only-changed", "--md"], workdir).stdout
    assert "hop-0.1" in show and "hop_seconds" in show and "stft_distance" in show, show
    diff = run(["dvc", "metrics", "diff"], workdir).stdout
    assert "binaural_full.json" in diff and "stft_distance" in diff, diff
    assert "sync_" not in diff and "binaural_backbone" not in diff  # the other metrics did not change
