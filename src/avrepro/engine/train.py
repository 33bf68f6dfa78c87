"""The training loop: seeded, resumable, logged with dvclive, AMP on CUDA.

Work in progress lives in ``<out>/.partial/`` (``last.pt`` every ``checkpoint_every`` steps and
at every epoch end, ``best.pt``); a rerun after a kill resumes from it when the configuration
hash matches. The declared outputs (``best.pt``, ``last.pt``, ``config.yaml``, ``live/``)
appear only when training has finished, each written atomically.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from avrepro.config import config_hash
from avrepro.engine.checkpoint import load_checkpoint, save_checkpoint
from avrepro.io import atomic_dir, write_text


def select_device(prefer: str | None = None) -> torch.device:
    """CUDA when available (or when asked), else CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed torch and make CPU kernels deterministic."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    torch.use_deterministic_algorithms(True, warn_only=True)
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
    warnings.warn("train.cpu_amp is set but this CPU has no native bf16 (AVX512-BF16/AMX): "
                  "training runs in full precision", RuntimeWarning, stacklevel=3)


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


def _to(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    """Move a batch to ``device`` (non-blocking from pinned memory; 4-D images channels-last
    when asked)."""
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            fmt = torch.channels_last if channels_last and v.dim() == 4 else torch.preserve_format
            v = v.to(device, non_blocking=True, memory_format=fmt)
        out[k] = v
    return out


def use_channels_last(tcfg: dict, device: torch.device) -> bool:
    """``train.channels_last`` applies on CUDA only (CPU numerics stay those of the plain path)."""
    return bool(tcfg.get("channels_last", False)) and device.type == "cuda"


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


def prepare_model(model: torch.nn.Module, tcfg: dict, device: torch.device, world=None):
    """The module the loop calls: ``model`` on ``device`` (channels-last on CUDA when asked),
    wrapped in DistributedDataParallel under torchrun, compiled with ``train.compile``.
    ``model`` itself keeps the parameters and the plain state-dict keys."""
    from avrepro.engine import ddp

    if use_channels_last(tcfg, device):
        model.to(memory_format=torch.channels_last)
    net = ddp.wrap(model, world or ddp.World(), device)
    if tcfg.get("compile", False):
        net = torch.compile(net)
    return net


def epoch_batches(n_items: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's shuffled batches (a function of seed and epoch; the last partial batch dropped
    unless it is the only one)."""
    order = np.random.default_rng([seed, epoch, 7]).permutation(n_items).tolist()
    batches = [order[i:i + batch_size] for i in range(0, n_items, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def _replay_live(live_dir: Path, history: list[dict]) -> None:
    """Write the dvclive logs of every finished epoch (fresh directory, so resumes never duplicate)."""
    from dvclive import Live

    if live_dir.exists():
        shutil.rmtree(live_dir)
    with Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        for row in history:
            for key, value in row.items():
                if key != "epoch":
                    live.log_metric(key, value, plot=True)
            live.next_step()


def _floats(sums: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v) for k, v in sums.items()}


def train(task, cfg: dict, variant: str, train_cache, val_cache, out_dir: str | Path, seed: int,
          device: str | None = None, progress: bool = True,
          on_step: Callable[[int], None] | None = None) -> dict:
    """Train ``variant`` of ``task`` and write ``best.pt``, ``last.pt``, ``config.yaml``, ``live/``.

    Under torchrun (``train.gpus > 1``, see :mod:`avrepro.engine.ddp`) every process calls this:
    each takes its slice of every global batch, DDP averages the gradients, rank 0 alone writes.

    Args:
        task: a registered task object (see :mod:`avrepro.tasks.base`).
        cfg: the task's resolved configuration section (``train`` sub-section drives the loop).
        on_step: called with the global step after each optimizer step (tests use it to
            simulate a kill).
    Returns:
        the final epoch's logged values plus ``best_val_loss`` (the same on every rank).
    """
    from avrepro.engine import ddp

    out_dir = Path(out_dir)
    tcfg = cfg["train"]
    dev = select_device(device)
    world = ddp.setup(dev)
    if world.distributed and dev.type == "cuda":
        dev = torch.device("cuda", world.local_rank)
    try:
        result = _train(task, cfg, variant, train_cache, val_cache, out_dir, seed, dev, world,
                        progress and world.main, on_step)
    except BaseException:
        if world.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise
    ddp.teardown(world)
    return result


def build_optimizer(groups: list[dict], tcfg: dict) -> torch.optim.Optimizer:
    """``train.optimizer``: ``adam`` (default) or ``sgd`` (with ``train.momentum``, default 0.9);
    ``train.weight_decay`` for both; learning rates come with the task's parameter groups."""
    kind = tcfg.get("optimizer", "adam")
    if kind == "adam":
        return torch.optim.Adam(groups, weight_decay=tcfg["weight_decay"])
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=tcfg.get("momentum", 0.9),
                               weight_decay=tcfg["weight_decay"])
    raise ValueError(f"train.optimizer must be adam or sgd, got {kind!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, tcfg: dict):
    """Per-epoch learning-rate decay by ``train.lr_decay``: at the epochs in ``train.lr_milestones``
    when given, else every ``train.lr_decay_every`` epochs."""
    if tcfg.get("lr_milestones"):
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(tcfg["lr_milestones"]),
                                                    tcfg["lr_decay"])
    return torch.optim.lr_scheduler.StepLR(optimizer, tcfg["lr_decay_every"], tcfg["lr_decay"])


def init_model(task, model: torch.nn.Module, path: Path, dev: torch.device) -> None:
    """Start from another run's weights (``train.init``, e.g. a curriculum's first stage): the
    task's ``init_from(model, state_dict)`` when it has one, else a non-strict load."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint to initialise from not found (train.init)")
    state = load_checkpoint(path, dev)["model"]
    if hasattr(task, "init_from"):
        task.init_from(model, state)
    else:
        model.load_state_dict(state, strict=False)


def _train(task, cfg, variant, train_cache, val_cache, out_dir: Path, seed: int, dev: torch.device,
           world, progress: bool, on_step) -> dict:
    from avrepro.engine import ddp

    tcfg = cfg["train"]
    threads = tcfg["threads"] if not world.distributed else max(1, tcfg["threads"] // world.size)
    seed_everything(seed, threads)
    model = task.build_model(cfg, variant).to(dev)
    if tcfg.get("init"):
        init_model(task, model, Path(tcfg["init"]), dev)
    optimizer = build_optimizer(task.param_groups(model, cfg), tcfg)
    scheduler = build_scheduler(optimizer, tcfg)
    train_ds, val_ds = task.datasets(cfg, train_cache, val_cache, variant, seed)
    run_hash = config_hash({"cfg": cfg, "variant": variant, "seed": seed,
                            "train": train_cache.clip_ids, "val": val_cache.clip_ids})
    partial = out_dir / ".partial"
    state = {"epoch": 0, "batch": 0, "step": 0, "history": [], "best_val": math.inf}
    stale = False
    if (partial / "last.pt").exists():
        ckpt = load_checkpoint(partial / "last.pt", dev)
        if ckpt.get("run_hash") == run_hash:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            state = ckpt["state"]
            if progress:
                tqdm.write(f"resuming {task.name}/{variant} from {partial / 'last.pt'} "
                           f"(epoch {state['epoch']}, step {state['step']})")
        else:
            stale = True
            if progress:
                tqdm.write(f"ignoring {partial / 'last.pt'}: it belongs to another configuration")
    ddp.barrier(world)  # every rank has read the checkpoint before rank 0 touches it
    if world.main:
        if stale:
            shutil.rmtree(partial)
        partial.mkdir(parents=True, exist_ok=True)
    ddp.barrier(world)
    weights_note = getattr(getattr(model, "visual", None), "weights_note", "n/a")
    net = prepare_model(model, tcfg, dev, world)
    channels_last = use_channels_last(tcfg, dev)
    log_every = tcfg.get("log_every", 50)

    # Losses are summed on the device (float64: the same sums as Python floats on CPU), so a
    # step never waits for the GPU; they are read at checkpoints, log lines and epoch ends.
    acc: dict[str, torch.Tensor] = {k: torch.tensor(v, dtype=torch.float64, device=dev)
                                    for k, v in state.get("sums", {}).items()}

    def global_sums() -> dict[str, float]:
        """The running sums of per-step mean losses, averaged over the ranks."""
        if not world.distributed:
            return _floats(acc)
        total = ddp.all_sum({k: v.clone() for k, v in sorted(acc.items())}, world)
        return {k: float(v) / world.size for k, v in total.items()}

    def checkpoint() -> None:
        state["sums"] = global_sums()  # a collective: every rank calls checkpoint() together
        if world.main:
            save_checkpoint(partial / "last.pt", {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "state": state, "run_hash": run_hash})
        ddp.barrier(world)

    loader_kw = {"num_workers": loader_workers(tcfg["num_workers"], tcfg["threads"], dev, world.size),
                 "pin_memory": dev.type == "cuda", "persistent_workers": False}
    val_batches = [list(range(i, min(i + tcfg["batch_size"], len(val_ds))))
                   for i in range(0, len(val_ds), tcfg["batch_size"])]
    # Validation batches go round-robin to the ranks; with fewer batches than ranks every rank
    # validates them all (the same numbers everywhere, no reduction needed).
    split_val = world.distributed and len(val_batches) >= world.size
    val_world = world if split_val else ddp.World()
    val_loader = DataLoader(val_ds, batch_sampler=val_batches[world.rank::world.size] if split_val
                            else val_batches, **loader_kw)
    epochs = tcfg["epochs"]
    bar = tqdm(total=epochs, initial=state["epoch"], desc=f"train {task.name}/{variant}",
               unit="epoch", disable=not progress)
    while state["epoch"] < epochs:
        epoch = state["epoch"]
        train_ds.set_epoch(epoch)
        batches = epoch_batches(len(train_ds), tcfg["batch_size"], seed, epoch)
        mine = [ddp.shard(b, world) for b in batches[state["batch"]:]]
        loader = DataLoader(train_ds, batch_sampler=mine, **loader_kw)
        net.train()
        for batch in loader:
            batch = _to(batch, dev, channels_last)
            with train_autocast(dev, tcfg):
                losses = task.losses(net, batch, cfg)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if tcfg.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(tcfg["grad_clip"]))
            optimizer.step()
            for key, value in losses.items():
                value = value.detach().to(torch.float64)
                acc[key] = acc[key] + value if key in acc else value
            state["batch"] += 1
            state["step"] += 1
            if on_step is not None:
                on_step(state["step"])
            if state["step"] % tcfg["checkpoint_every"] == 0:
                checkpoint()
            if progress and state["step"] % log_every == 0:
                bar.set_postfix(step=state["step"], loss=f"{float(losses['loss']):.4g}")
        scheduler.step()
        ddp.sync_buffers(model, world)  # BatchNorm running statistics of rank 0 everywhere
        val = _validate(task, model, val_loader, cfg, dev, tcfg, val_world, channels_last)
        sums = global_sums()
        row = {"epoch": epoch, **{f"train/{k}": v / max(1, state["batch"]) for k, v in sums.items()},
               **{f"val/{k}": v for k, v in val.items()}}
        row["lr"] = optimizer.param_groups[-1]["lr"]
        state["history"].append(row)
        state.update(epoch=epoch + 1, batch=0, sums={})
        acc = {}
        if val["loss"] < state["best_val"]:
            state["best_val"] = val["loss"]
            if world.main:
                save_checkpoint(partial / "best.pt", {"model": model.state_dict(), "epoch": epoch,
                                                      "val_loss": val["loss"], "variant": variant})
        checkpoint()
        bar.update(1)
        bar.set_postfix(train=f"{row['train/loss']:.4g}", val=f"{val['loss']:.4g}")
    bar.close()

    final = {**state["history"][-1], "best_val_loss": float(state["best_val"])}
    if not world.main:
        return final
    # Publish the declared outputs atomically, then drop the work-in-progress directory.
    with atomic_dir(out_dir / "live") as tmp_live:
        _replay_live(tmp_live, state["history"])
    shutil.copyfile(partial / "best.pt", out_dir / ".best.pt.tmp")
    os.replace(out_dir / ".best.pt.tmp", out_dir / "best.pt")
    save_checkpoint(out_dir / "last.pt", {"model": model.state_dict(), "state": state,
                                          "run_hash": run_hash, "variant": variant})
    summary = {"task": task.name, "variant": variant, "seed": seed, "run_hash": run_hash,
               "device": str(dev), "visual_weights": weights_note, "epochs": epochs,
               "steps": state["step"], "best_val_loss": float(state["best_val"]), "config": cfg}
    if world.distributed:
        summary["processes"] = world.size
    write_text(out_dir / "config.yaml", yaml.safe_dump(summary, sort_keys=True))
    shutil.rmtree(partial)
    return final


@torch.no_grad()
def _validate(task, model, loader, cfg, dev, tcfg, world=None, channels_last: bool = False) -> dict:
    """Mean losses over the validation windows (each rank takes whole batches round-robin)."""
    from avrepro.engine import ddp

    world = world or ddp.World()
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    n = 0
    for batch in loader:
        batch = _to(batch, dev, channels_last)
        with train_autocast(dev, tcfg):
            losses = task.losses(model, batch, cfg)
        size = next(iter(batch.values())).shape[0]
        for key, value in losses.items():
            value = value.detach().to(torch.float64) * size
            sums[key] = sums[key] + value if key in sums else value
        n += size
    if world.distributed:
        sums["__n__"] = torch.tensor(float(n), dtype=torch.float64, device=dev)
        ddp.all_sum(dict(sorted(sums.items())), world)
        n = int(sums.pop("__n__"))
    return {k: float(v) / max(1, n) for k, v in sums.items()}
