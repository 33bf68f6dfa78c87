"""The pieces of the training loop that see batches: the epoch's batch order, one optimizer step,
the running loss sums and the validation pass. :mod:`avrepro.engine.train` drives them; the
benchmarks time :func:`train_step` itself."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from avrepro.engine import ddp
from avrepro.engine.runtime import to_device, train_autocast, unwrap


def epoch_batches(n_items: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's shuffled batches (a function of seed and epoch; the last partial batch dropped
    unless it is the only one)."""
    order = np.random.default_rng([seed, epoch, 7]).permutation(n_items).tolist()
    batches = [order[i : i + batch_size] for i in range(0, n_items, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def train_step(
    net: nn.Module,
    batch: dict,
    optimizer: torch.optim.Optimizer,
    tcfg: dict,
    device: torch.device,
    scaler: torch.amp.GradScaler | None = None,
) -> dict[str, torch.Tensor]:
    """One optimizer step on ``batch`` (already on ``device``): the forward of ``net`` (a
    :class:`~avrepro.engine.runtime.LossModule`, maybe wrapped) under the ``train`` section's
    autocast, backward, ``train.grad_clip`` and the step; with an fp16 ``scaler`` the loss is
    scaled and the gradients unscaled before clipping. Returns the named losses."""
    with train_autocast(device, tcfg):
        losses = net(batch)
    optimizer.zero_grad(set_to_none=True)
    loss = losses["loss"]
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if tcfg.get("grad_clip"):
        if scaler is not None:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(unwrap(net).parameters(), float(tcfg["grad_clip"]))
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return losses


def accumulate(
    sums: dict[str, torch.Tensor], losses: dict[str, torch.Tensor], weight: int | None = None
) -> None:
    """Add ``losses`` (times ``weight``) to ``sums`` in float64 on their device, so a step never
    waits for the GPU (on CPU the same sums as Python floats)."""
    for key, value in losses.items():
        value = value.detach().to(torch.float64)
        if weight is not None:
            value = value * weight
        sums[key] = sums[key] + value if key in sums else value


@torch.no_grad()
def validate(
    task, model: nn.Module, loader, cfg: dict, device: torch.device, world=None, channels_last: bool = False
) -> dict[str, float]:
    """Mean losses of the plain ``model`` over the validation windows (each rank takes whole
    batches round-robin; the sums are added over the ranks)."""
    world = world or ddp.World()
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    n = 0
    for batch in loader:
        batch = to_device(batch, device, channels_last)
        with train_autocast(device, cfg["train"]):
            losses = task.losses(model, batch, cfg)
        size = next(iter(batch.values())).shape[0]
        accumulate(sums, losses, size)
        n += size
    if world.distributed:
        sums["__n__"] = torch.tensor(float(n), dtype=torch.float64, device=device)
        ddp.all_sum(dict(sorted(sums.items())), world)
        n = int(sums.pop("__n__"))
    return {k: float(v) / max(1, n) for k, v in sums.items()}
