"""Where and how the engine runs a model: device, seeds, autocast, batches on the device, the
DataLoader workers, and the module the training loop calls (:class:`LossModule`, wrapped in
DistributedDataParallel and ``torch.compile`` when asked; tasks only ever see the plain model)."""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
import torch
from torch import nn

from avrepro.engine import ddp


def select_device(prefer: str | None = None) -> torch.device:
    """CUDA when available (or when asked), else CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed torch and make CPU kernels deterministic."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    # torch.use_deterministic_algorithms(True, warn_only=True) without its import of
    # torch._inductor (1.3 s in every job) to set inductor's own flag: prepare_model sets that
    # one when it compiles
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    if threads:
        torch.set_num_threads(threads)


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 kernels natively (AVX512-BF16 or AMX; oneDNN's own check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@functools.cache
def _warn_no_cpu_bf16() -> None:
    warnings.warn(
        "train.cpu_amp is set but this CPU has no native bf16 (AVX512-BF16/AMX): "
        "training runs in full precision",
        RuntimeWarning,
        stacklevel=3,
    )


def autocast(device: torch.device, amp: str, cpu: bool = False):
    """bf16/fp16 autocast on CUDA. On CPU full precision, unless ``cpu`` (``train.cpu_amp``) asks
    for bf16 autocast with ``amp: bf16`` and the CPU has native bf16 (else a warning, fp32)."""
    if amp == "none":
        return contextlib.nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)
    if device.type == "cpu" and cpu and amp == "bf16":
        if cpu_has_bf16():
            return torch.autocast("cpu", dtype=torch.bfloat16)
        _warn_no_cpu_bf16()
    return contextlib.nullcontext()


def train_autocast(device: torch.device, tcfg: dict):
    """:func:`autocast` as a ``train`` section asks for it (``amp``, ``cpu_amp``)."""
    return autocast(device, tcfg["amp"], tcfg.get("cpu_amp", False))


def to_device(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    """Move a batch to ``device`` (non-blocking from pinned memory; 4-D images channels-last
    when asked); values that are not tensors pass through."""
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            fmt = torch.channels_last if channels_last and v.dim() == 4 else torch.preserve_format
            v = v.to(device, non_blocking=True, memory_format=fmt)
        out[k] = v
    return out


def use_channels_last(tcfg: dict, device: torch.device) -> bool:
    """``train.channels_last`` applies on CUDA, and on CPU only with ``train.cpu_channels_last``
    (which changes the CPU's convolution kernels, so by default CPU numerics stay the plain path's)."""
    if not tcfg.get("channels_last", False):
        return False
    return device.type == "cuda" or bool(tcfg.get("cpu_channels_last", False))


def loader_workers(setting, threads: int, device: torch.device, processes: int = 1) -> int:
    """DataLoader workers: ``train.num_workers``, or with ``auto`` derived from the rule's threads.

    ``auto`` on CUDA: every thread of this process's share but one feeds the GPU (at most 8);
    on CPU the threads run the model, so only a quarter of them load examples (0 for 2 threads:
    reading windows from the memory-mapped cache is cheap next to a training step).
    """
    if setting != "auto":
        return int(setting)
    share = max(1, threads // max(1, processes))
    if device.type == "cuda":
        return min(8, max(1, share - 1))
    return share // 4


class LossModule(nn.Module):
    """The training step's forward: ``task.losses(model, batch, cfg)`` as one module, so that DDP
    and ``torch.compile`` wrap it (one DDP forward per step: gradients sync) while the task
    receives the plain ``model``."""

    def __init__(self, task, model: nn.Module, cfg: dict):
        super().__init__()
        self.task, self.model, self.cfg = task, model, cfg

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        return self.task.losses(self.model, batch, self.cfg)


def unwrap(module: nn.Module) -> nn.Module:
    """The plain model inside DDP (``module``), ``torch.compile`` (``_orig_mod``) and
    :class:`LossModule` (``model``) wrappers."""
    while True:
        if isinstance(module, LossModule):
            module = module.model
        elif isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        elif hasattr(module, "_orig_mod"):
            module = module._orig_mod
        else:
            return module


def prepare_model(module: nn.Module, tcfg: dict, device: torch.device, world=None) -> nn.Module:
    """The module the loop calls: ``module`` (a :class:`LossModule`, already on ``device``;
    channels-last on CUDA when asked), wrapped in DistributedDataParallel under torchrun,
    compiled with ``train.compile``. The plain model keeps the parameters and state-dict keys."""
    if use_channels_last(tcfg, device):
        module.to(memory_format=torch.channels_last)
    net = ddp.wrap(module, world or ddp.World(), device)
    if tcfg.get("compile", False):
        torch.use_deterministic_algorithms(True, warn_only=True)  # inductor's flag as well
        net = torch.compile(net)
    return net
