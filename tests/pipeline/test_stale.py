"""`avrepro stale` names what the current configuration does not make (other variants, tasks,
datasets, profiles) and nothing it does; `--remove` deletes exactly those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers.project import copy_project

LIVE = [  # outputs of the smoke profile's DAG (files inside declared folders included)
    "models/binaural/full/best.pt",
    "models/binaural/full/.partial/last.pt",
    "data/cache/synthetic/test/binaural/audio_00000.npy",
    "reports/metrics/binaural_full.json",
    "reports/logs/train_binaural_full.log",
    "reports/figures/binaural/loss_curves.png",
    "reports/README.md",
]
STALE = [  # a default-profile variant, a dataset no task reads, a file no rule writes
    "models/binaural/film/best.pt",
    "reports/metrics/binaural_film.json",
    "data/cache/fairplay/test/binaural/audio_00000.npy",
    "reports/notes.txt",
]


def _stale(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "avrepro", "stale", "--config", "profile=smoke", *args]
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_stale_lists_and_removes_only_other_configurations_outputs(tmp_path):
    work = copy_project(tmp_path / "work")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    for rel in LIVE + STALE:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("x")
    subprocess.run(["git", "add", "reports/README.md"], cwd=work, check=True)  # tracked: never stale
    listed = _stale(work).stdout.split()
    assert listed == ["data/cache/fairplay", "models/binaural/film", "reports/metrics/binaural_film.json",
                      "reports/notes.txt"]  # fmt: skip
    assert all((work / rel).exists() for rel in LIVE + STALE)
    assert "4 stale output(s)" in _stale(work, "--remove").stderr
    assert all((work / rel).exists() for rel in LIVE)
    assert not any((work / rel).exists() for rel in STALE)
    assert _stale(work).stdout == ""
