"""Kills that lose nothing: a job stops when its Snakemake is gone; a stale lock is cleared only
when no Snakemake runs in the directory. (The whole path, kill -9 during a smoke training and
`make repro` after it: tests/pipeline/test_reruns.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from avrepro.runguard import SNAKEMAKE_PID_ENV, remove_stale_lock, start_time, watch_snakemake

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")

JOB = textwrap.dedent(
    """
    import sys, time
    from avrepro.runguard import watch_snakemake
    assert watch_snakemake(poll=0.1) is not None
    try:
        while True:
            time.sleep(0.05)
    except KeyboardInterrupt:
        open(sys.argv[1], "w").write("stopped cleanly")
    """
)


@pytest.mark.parametrize("sigint", ["handled", "ignored"])
def test_a_job_stops_when_its_snakemake_is_killed(tmp_path, sigint):
    """Also when the job inherits SIGINT ignored (Snakemake started with `nohup` or `&`)."""
    snakemake = subprocess.Popen(["sleep", "60"])  # stands in for Snakemake
    flag = tmp_path / "flag"
    env = {**os.environ, SNAKEMAKE_PID_ENV: str(snakemake.pid)}
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint == "ignored" else None
    job = subprocess.Popen(
        [sys.executable, "-c", JOB, str(flag)], env=env, stderr=subprocess.PIPE, text=True, preexec_fn=ignore
    )
    time.sleep(1.5)
    assert job.poll() is None, job.stderr.read()  # runs while its Snakemake lives
    snakemake.kill()
    snakemake.wait()
    start = time.monotonic()
    job.wait(timeout=20)
    assert time.monotonic() - start < 5
    assert flag.read_text() == "stopped cleanly"  # interrupted like Ctrl-C: cleanup code ran
    assert "is gone; stopping this job" in job.stderr.read()


def test_nothing_is_watched_without_a_live_snakemake():
    assert watch_snakemake({}) is None
    assert watch_snakemake({SNAKEMAKE_PID_ENV: "not-a-pid"}) is None
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert start_time(gone.pid) is None
    assert watch_snakemake({SNAKEMAKE_PID_ENV: str(gone.pid)}) is None


def test_stale_lock_is_removed_only_when_no_snakemake_runs_there(tmp_path):
    locks = tmp_path / ".snakemake/locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("data/raw/synthetic\n")
    (locks / "0.output.lock").write_text("reports/report.md\n")
    # a live Snakemake in this directory (its argv[0] is `snakemake`): the lock is its own
    live = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 30"], cwd=tmp_path)
    try:
        time.sleep(0.3)
        assert remove_stale_lock(tmp_path) == []
        assert len(list(locks.glob("*.lock"))) == 2
    finally:
        live.kill()
        live.wait()
    removed = remove_stale_lock(tmp_path)
    assert sorted(p.name for p in removed) == ["0.input.lock", "0.output.lock"]
    assert not list(locks.glob("*.lock"))
    assert remove_stale_lock(tmp_path) == []  # nothing left: nothing to do
