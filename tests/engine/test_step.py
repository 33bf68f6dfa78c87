"""The training step: tasks see the plain model inside the engine's wrapper, one ``unwrap``, and
the fp16 loss scaler (only for ``amp: fp16`` on CUDA; scale, unscale before clipping, step)."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from avrepro.engine.checkpoint import load_checkpoint
from avrepro.engine.loop import train_step
from avrepro.engine.optim import build_scaler
from avrepro.engine.runtime import LossModule, prepare_model, unwrap
from helpers.training import train_film

CPU = torch.device("cpu")


class Killed(RuntimeError):
    pass


class SquareTask:
    """Enough of a task for a step: the loss is the mean squared output; records what it got."""

    def __init__(self):
        self.seen = []

    def losses(self, model, batch, cfg):
        self.seen.append(model)
        return {"loss": model(batch["x"]).pow(2).mean()}


class RecordingScaler:
    """A stand-in for ``torch.amp.GradScaler`` that records the calls the step makes."""

    def __init__(self):
        self.calls = []

    def scale(self, loss):
        self.calls.append("scale")
        return loss * 1.0

    def unscale_(self, optimizer):
        self.calls.append("unscale_")

    def step(self, optimizer):
        self.calls.append("step")
        optimizer.step()

    def update(self):
        self.calls.append("update")


def _step(scaler=None, **tcfg):
    torch.manual_seed(0)
    task, model = SquareTask(), nn.Linear(3, 2)
    net = prepare_model(LossModule(task, model, {}), {"amp": "none", **tcfg}, CPU)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = train_step(net, {"x": torch.ones(4, 3)}, optimizer, {"amp": "none", **tcfg}, CPU, scaler)
    return task, model, losses


def test_task_sees_the_plain_model_and_unwrap_finds_it():
    task, model, losses = _step()
    assert task.seen == [model] and losses["loss"].requires_grad
    wrapped = LossModule(task, model, {})
    assert unwrap(wrapped) is model and unwrap(model) is model
    assert unwrap(torch.compile(wrapped)) is model  # compile wraps lazily: nothing runs here
    assert list(wrapped.parameters()) == list(model.parameters())


def test_scaler_only_for_fp16_on_cuda():
    for amp in ("none", "bf16", "fp16"):
        assert build_scaler({"amp": amp}, CPU) is None, amp
    for amp in ("none", "bf16"):
        assert build_scaler({"amp": amp}, torch.device("cuda")) is None, amp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without CUDA the scaler disables itself, with a warning
        assert isinstance(build_scaler({"amp": "fp16"}, torch.device("cuda")), torch.amp.GradScaler)


def test_step_scales_and_unscales_before_clipping():
    scaler = RecordingScaler()
    _, scaled_model, _ = _step(scaler, grad_clip=0.01)
    assert scaler.calls == ["scale", "unscale_", "step", "update"]
    _, plain_model, _ = _step(None, grad_clip=0.01)
    pairs = zip(scaled_model.parameters(), plain_model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    scaler = RecordingScaler()
    _step(scaler)
    assert scaler.calls == ["scale", "step", "update"]  # no clipping: nothing to unscale first


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp16_on_cuda_scales_and_resumes(tiny_caches, tmp_path):
    """fp16 on CUDA: the scaler's state is checkpointed and restored on resume; the losses are
    finite."""

    c = tiny_caches["caches"]
    cfg = copy.deepcopy(tiny_caches["cfg"]["binaural"])
    cfg["train"].update(epochs=2, amp="fp16", batch_size=4, windows_per_clip=2, checkpoint_every=2)

    def kill_at_3(step):
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        train_film(c, cfg, tmp_path / "run", seed=0, device="cuda", progress=False, on_step=kill_at_3)
    partial = load_checkpoint(tmp_path / "run/.partial/last.pt")
    assert partial["scaler"]["scale"] > 0 and partial["state"]["step"] == 2
    steps = []
    final = train_film(c, cfg, tmp_path / "run", seed=0, device="cuda", progress=False, on_step=steps.append)
    assert steps[0] == 3 and torch.isfinite(torch.tensor(final["train/loss"]))
