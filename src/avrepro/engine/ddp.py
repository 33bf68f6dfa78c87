"""Multi-process (DDP) training support: the launcher, the process group, batch shards.

``train.gpus > 1`` makes ``avrepro train`` re-execute itself under ``torchrun --standalone
--nproc_per_node=N`` (:func:`launch_argv`); each process then joins the process group from the
environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``):
NCCL on CUDA, gloo on CPU. Every rank draws the same global batches of ``train.batch_size`` and
takes its own contiguous slice of each (:func:`shard`), so the gradient DDP averages is the
gradient of the global batch; rank 0 alone writes checkpoints and logs.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

UNDER_LAUNCHER = "WORLD_SIZE"


@dataclass(frozen=True)
class World:
    """This process's place in the job: ``size`` processes, this one is ``rank``."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """True inside a process started by torchrun (or by a test that sets the same variables)."""
    return int(os.environ.get(UNDER_LAUNCHER, "1")) > 1


def launch_argv(gpus: int, argv: list[str], python: str | None = None) -> list[str] | None:
    """The command that runs ``python -m avrepro <argv>`` on ``gpus`` processes, or ``None`` when
    this process should train itself (one GPU, or already under the launcher)."""
    if gpus <= 1 or launched():
        return None
    return [
        python or sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={gpus}",
        "-m",
        "avrepro",
        *argv,
    ]


def setup(device: torch.device | None = None) -> World:
    """Join the process group described by the environment (a no-op for one process)."""
    if not launched():
        return World()
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        cuda = (device.type == "cuda") if device is not None else torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=size)
    return World(rank, size, local)


def teardown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shard(batch: list[int], world: World) -> list[int]:
    """This rank's contiguous slice of a global batch (equal slices: the batch size must divide)."""
    if not world.distributed:
        return batch
    if len(batch) % world.size:
        raise ValueError(
            f"a batch of {len(batch)} examples cannot be split evenly across "
            f"{world.size} processes: make train.batch_size a multiple of train.gpus "
            f"(and have at least that many training windows)"
        )
    per = len(batch) // world.size
    return batch[world.rank * per : (world.rank + 1) * per]


def all_sum(values: dict[str, torch.Tensor], world: World) -> dict[str, torch.Tensor]:
    """Sum each tensor over the ranks (in place; returned for convenience)."""
    if world.distributed:
        for value in values.values():
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return values


def sync_buffers(model: torch.nn.Module, world: World) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
    if world.distributed:
        for buf in model.buffers():
            dist.broadcast(buf, src=0)


def wrap(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` (SyncBatchNorm on CUDA; CPU keeps per-rank
    BatchNorm statistics, as SyncBatchNorm needs a GPU)."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index])
    return DistributedDataParallel(model)
