"""Training engine: outputs, kill-and-resume equals an uninterrupted run, same seed -> same metrics."""

from __future__ import annotations

import copy

import pytest
import torch

from avrepro.engine.checkpoint import load_checkpoint
from avrepro.engine.evaluate import evaluate
from avrepro.engine.train import train
from avrepro.io import read_json
from avrepro.tasks import get_task


class Killed(RuntimeError):
    pass


def _cfg(tiny):
    cfg = copy.deepcopy(tiny["cfg"]["binaural"])
    cfg["train"].update(epochs=2, checkpoint_every=2, batch_size=4, windows_per_clip=2)
    return cfg


def _run(tiny, out, variant="film", on_step=None):
    c = tiny["caches"]
    return train(get_task("binaural"), _cfg(tiny), variant, c["train"], c["val"], out, seed=3,
                 device="cpu", progress=False, on_step=on_step)


def _eval(tiny, out, name):
    return evaluate("binaural", _cfg(tiny), name, tiny["caches"]["test"],
                    checkpoint=out / "best.pt", metrics_out=out / "m.json", clips_out=out / "c.csv",
                    device="cpu", progress=False)


def test_outputs_and_logs(tiny_caches, tmp_path):
    final = _run(tiny_caches, tmp_path / "run")
    run = tmp_path / "run"
    for name in ("best.pt", "last.pt", "config.yaml"):
        assert (run / name).is_file()
    assert not (run / ".partial").exists()
    assert (run / "live/plots/metrics/train/loss.tsv").read_text().count("\n") == 3  # header + 2 epochs
    assert (run / "live/plots/metrics/val/loss.tsv").is_file()
    assert final["train/loss"] > 0
    state = load_checkpoint(run / "last.pt")  # weights_only load works
    assert state["state"]["epoch"] == 2


def test_same_seed_same_metrics(tiny_caches, tmp_path):
    a = _run(tiny_caches, tmp_path / "a")
    b = _run(tiny_caches, tmp_path / "b")
    assert a == b
    assert _eval(tiny_caches, tmp_path / "a", "film") == _eval(tiny_caches, tmp_path / "b", "film")


def test_kill_and_resume_matches_uninterrupted(tiny_caches, tmp_path):
    reference = _run(tiny_caches, tmp_path / "ref")

    def kill_at_5(step):
        if step == 5:
            raise Killed("simulated kill")

    with pytest.raises(Killed):
        _run(tiny_caches, tmp_path / "run", on_step=kill_at_5)
    partial = tmp_path / "run/.partial/last.pt"
    assert partial.is_file() and not (tmp_path / "run/best.pt").exists()
    assert load_checkpoint(partial)["state"]["step"] == 4  # the last checkpoint before the kill
    resumed_from = []
    resumed = _run(tiny_caches, tmp_path / "run", on_step=resumed_from.append)
    assert resumed_from[0] == 5  # continued, not restarted
    assert resumed == reference
    ref_w = torch.load(tmp_path / "ref/best.pt", weights_only=True)["model"]
    run_w = torch.load(tmp_path / "run/best.pt", weights_only=True)["model"]
    assert all(torch.equal(ref_w[k], run_w[k]) for k in ref_w)


def test_resume_ignores_other_configuration(tiny_caches, tmp_path):
    def kill_at_3(step):
        if step == 3:
            raise Killed()

    with pytest.raises(Killed):
        _run(tiny_caches, tmp_path / "run", variant="film", on_step=kill_at_3)
    steps = []
    _run(tiny_caches, tmp_path / "run", variant="backbone", on_step=steps.append)
    assert steps[0] == 1  # started afresh: the checkpoint belonged to another variant


def test_evaluate_writes_flat_metrics(tiny_caches, tmp_path):
    _run(tiny_caches, tmp_path / "run")
    summary = _eval(tiny_caches, tmp_path / "run", "film")
    stored = read_json(tmp_path / "run/m.json")
    assert stored == summary
    for key in ("stft_distance", "stft_distance_sem", "env_distance", "env_distance_sem", "n_clips"):
        assert key in stored
    assert stored["n_clips"] == len(tiny_caches["caches"]["test"])
