"""The console of a training job: one line per epoch (and a start line) on the descriptor the
workflow leaves on Snakemake's terminal, the same lines in the job's log, no number changed; under
Snakemake with the project's profile and shell prefix, the line reaches Snakemake's own output and
a failed job's error is printed there too."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from test_toy_task import WINDOW, ToyTask

from avrepro.engine import console
from avrepro.engine.console import CONSOLE_FD_ENV, EpochReporter, console_stream
from avrepro.engine.train import train
from helpers.configs import smoke_config
from helpers.memory_cache import InMemoryCache

NAME = "train toy/linear"


class ToyClips(InMemoryCache):
    """Random stereo clips of one window, for the toy task's linear model."""

    def __init__(self, n_clips: int, seed: int):
        rng = np.random.default_rng(seed)
        self.clip_ids = [f"toy{i}" for i in range(n_clips)]
        self._audio = [(rng.standard_normal((2, WINDOW)) * 3000).astype(np.int16) for _ in self.clip_ids]
        self._frames, self._meta = [], []


def _train(out) -> dict:
    """Two epochs of the toy task with the smoke profile's engine keys."""
    tcfg = smoke_config()["binaural"]["train"]
    tcfg.update(lr=1e-2, epochs=2, batch_size=2, checkpoint_every=2, threads=1, num_workers=0)
    cfg = {"model": {"window": WINDOW}, "train": tcfg}
    return train(ToyTask(), cfg, "linear", ToyClips(6, 0), ToyClips(2, 1), out, seed=1, device="cpu")


def test_epoch_lines_reach_the_console(tmp_path, monkeypatch, capsys):
    screen = tmp_path / "console.txt"
    fd = os.open(screen, os.O_WRONLY | os.O_CREAT)
    monkeypatch.setenv(CONSOLE_FD_ENV, str(fd))
    try:
        final = _train(tmp_path / "a")
    finally:
        os.close(fd)
    lines = screen.read_text().splitlines()
    assert lines[0] == f"{NAME}: 2 epochs on cpu, from the start"
    assert re.fullmatch(rf"{NAME}: epoch 1/2  loss \S+  val \S+  best \S+  \S+ s/epoch  ETA \d+ s", lines[1])
    last = f"loss {final['train/loss']:.4g}  val {final['val/loss']:.4g}  best {final['best_val_loss']:.4g}"
    assert re.fullmatch(rf"{NAME}: epoch 2/2  {last}  \S+ s/epoch  done in \d+ s", lines[2]), lines[2]
    assert len(lines) == 3
    log = [line for line in capsys.readouterr().out.splitlines() if line.startswith(NAME)]
    assert log == lines  # the job's log holds the same lines
    monkeypatch.delenv(CONSOLE_FD_ENV)
    assert _train(tmp_path / "b") == final  # the lines change no number


def test_console_stream_takes_only_a_writable_descriptor(tmp_path):
    assert console_stream({}) is None
    assert console_stream({CONSOLE_FD_ENV: "three"}) is None
    read_end, write_end = os.pipe()
    try:
        assert console_stream({CONSOLE_FD_ENV: str(read_end)}) is None
        stream = console_stream({CONSOLE_FD_ENV: str(write_end)})
        stream.write("hello\n")
        assert os.read(read_end, 100) == b"hello\n"
    finally:
        os.close(read_end)
        os.close(write_end)
    assert console_stream({CONSOLE_FD_ENV: str(write_end)}) is None  # closed


def test_a_long_epoch_gets_a_line_every_few_minutes(monkeypatch, capsys):
    screen = io.StringIO()
    report = EpochReporter(NAME, 10, enabled=True, console=screen)
    report.epoch_begins(0)
    report.step(2, 5, 100, 0.5)
    assert screen.getvalue() == ""  # the console spoke a moment ago
    monkeypatch.setattr(console, "HEARTBEAT_SECONDS", 0.0)
    report.step(2, 20, 100, 0.25)
    assert re.fullmatch(
        rf"{NAME}: epoch 3/10  step 20/100  loss 0\.25  \S+ steps/s  epoch ends in \d+ s\n", screen.getvalue()
    )
    assert [console.duration(s) for s in (0.4, 89, 600, 5400)] == ["0 s", "89 s", "10 min", "1 h 30 min"]


SNAKEFILE = """
from avrepro.config import load_params

CFG = load_params("{root}/params.yaml", overrides={{"profile": "smoke"}})


include: "{root}/workflow/rules/common.smk"


rule all:
    input:
        "ok.txt",
        "failed.txt",


rule ok:
    output:
        "ok.txt",
    log:
        "ok.log",
    shell:
        "python probe.py > {{log}} 2>&1 && touch {{output}}"


rule fails:
    output:
        "failed.txt",
    log:
        "fails.log",
    shell:
        "python -c 'raise SystemExit(\\"probe: the error itself\\")' > {{log}} 2>&1"
"""

PROBE = """
from avrepro.engine.console import console_stream

console_stream().write("probe: on the console\\n")
print("probe: in the log")
"""


def test_snakemake_shows_the_line_and_the_failed_log(root, tmp_path):
    """The project's shell prefix (common.smk) and profile (show-failed-logs), under Snakemake's
    local executor: the job's console line reaches Snakemake's output, not the log; a failed
    job's log is printed."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(root=root))
    (tmp_path / "probe.py").write_text(PROBE)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--keep-going"]
        + ["--workflow-profile", str(root / "workflow/profiles/default")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and (tmp_path / "ok.txt").exists()
    assert "probe: on the console" in output and "probe: in the log" not in output
    assert (tmp_path / "ok.log").read_text() == "probe: in the log\n"
    assert "probe: the error itself" in output
