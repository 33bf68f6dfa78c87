"""The optimizer, the learning-rate schedule and the fp16 loss scaler of a ``train`` section."""

from __future__ import annotations

import torch


def build_optimizer(groups: list[dict], tcfg: dict) -> torch.optim.Optimizer:
    """``train.optimizer``: ``adam`` (default) or ``sgd`` (with ``train.momentum``, default 0.9);
    ``train.weight_decay`` for both; learning rates come with the task's parameter groups."""
    kind = tcfg.get("optimizer", "adam")
    if kind == "adam":
        return torch.optim.Adam(groups, weight_decay=tcfg["weight_decay"])
    if kind == "sgd":
        return torch.optim.SGD(
            groups, lr=groups[0]["lr"], momentum=tcfg.get("momentum", 0.9), weight_decay=tcfg["weight_decay"]
        )
    raise ValueError(f"train.optimizer must be adam or sgd, got {kind!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, tcfg: dict):
    """Per-epoch learning-rate schedule. ``train.lr_schedule: linear``: from the groups' rates down
    to 1/epochs of them in the last epoch (the budgeted-training schedule of Li et al., ICLR 2020);
    else (``step``, the default) decay by ``train.lr_decay`` at the epochs in
    ``train.lr_milestones`` when given, else every ``train.lr_decay_every`` epochs."""
    if tcfg.get("lr_schedule", "step") == "linear":
        epochs = int(tcfg["epochs"])
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: max(0.0, 1.0 - epoch / epochs))
    if tcfg.get("lr_milestones"):
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(tcfg["lr_milestones"]), tcfg["lr_decay"])
    return torch.optim.lr_scheduler.StepLR(optimizer, tcfg["lr_decay_every"], tcfg["lr_decay"])


def build_scaler(tcfg: dict, device: torch.device) -> torch.amp.GradScaler | None:
    """A loss scaler for ``train.amp: fp16`` on CUDA (fp16 gradients underflow without one);
    ``None`` otherwise: bf16 keeps fp32's exponent range, and on CPU fp16 runs in fp32."""
    if tcfg["amp"] == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None
