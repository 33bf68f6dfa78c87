"""The slurm workflow profile: the whole DAG dry-runs with it (no sbatch needed), and the jobs get
the resources the profile promises (GPUs for training, memory, runtime, cores)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from avrepro.config import load_params

PROFILE = "workflow/profiles/slurm"


def _resources(block: str) -> dict[str, str]:
    line = re.search(r"^\s+resources: (.*)$", block, re.M).group(1)
    return dict(item.split("=", 1) for item in line.split(", "))


def test_slurm_profile_dry_run(tmp_path, root):
    for item in ("Snakefile", "params.yaml", "workflow"):
        src = root / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--workflow-profile", PROFILE, "-n"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    cfg = load_params(tmp_path / "params.yaml")
    for task in cfg["tasks"]:  # one training job per variant of every task
        n = len(cfg[task]["variants"])
        assert re.search(rf"^train_{task}\s+{n}\s*$", out, re.M), out[-3000:]
    blocks = {}
    for block in re.split(r"^(?=rule \w+:)", out, flags=re.M)[1:]:
        blocks.setdefault(block.split(":", 1)[0].split()[1], block)
    profile = yaml.safe_load((root / PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    train = _resources(blocks["train_binaural"])
    assert train["gpu"] == "1" and train["mem_mb"] == "32000" and train["runtime"] == "1440"
    assert train["cpus_per_task"] == "8"
    report = _resources(blocks["report"])
    assert report["gpu"] == "0" and report["runtime"] == "15"


def test_gpu_resource_becomes_sbatch_gpus():
    """What the plugin turns a training job's `gpu` resource into (train.gpus = N -> --gpus=N)."""
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = SimpleNamespace(resources=SimpleNamespace(get={"gpu": 2}.get))
    assert set_gres_string(job).strip() == "--gpus=2"
    cpu_job = SimpleNamespace(resources=SimpleNamespace(get={"gpu": 0}.get))
    assert set_gres_string(cpu_job) == ""
