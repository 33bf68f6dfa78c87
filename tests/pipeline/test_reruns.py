"""What reruns of a smoke run do (in a copy of the session's smoke tree, see conftest.py):
`dvc repro` rebuilds the same metrics; kills during training lose nothing; deleted outputs and
params edits are seen by Snakemake and DVC alike; `dvc exp` compares a params change."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from avrepro.io import CONTENTS
from avrepro.runguard import processes_in
from helpers.project import (
    dvc_commit,
    env,
    make,
    metric_values,
    planned_rules,
    run,
    snakemake,
)

pytestmark = pytest.mark.slow


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


def test_a_model_change_leaves_the_baselines_alone(committed):
    """A separation net's width reaches its training and what follows, not the baselines, which
    never read the model (DVC agrees); params.yaml is put back."""
    workdir, params = committed, committed / "params.yaml"
    before = params.read_text()
    raw = yaml.safe_load(before)
    raw["profiles"]["smoke"]["separation"]["model"]["ngf"] = 6
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        rules = planned_rules(workdir)
        status = run(["dvc", "status"], workdir).stdout
    finally:
        params.write_text(before)
    assert "train_separation" in rules and "evaluate_separation" in rules, rules
    assert "baseline_separation" not in rules, rules
    stages = set(re.findall(r"^(\w+):", status, re.M))
    assert "train_separation_binary" in stages and not any(s.startswith("baseline_") for s in stages), status


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
