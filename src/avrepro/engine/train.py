"""The training loop: seeded, resumable, logged with dvclive, AMP on CUDA.

Work in progress lives in ``<out>/.partial/`` (``last.pt`` every ``checkpoint_every`` steps and
at every epoch end, ``best.pt``); a rerun after a kill resumes from it when the run hash matches
(:func:`resume`). The declared outputs (``best.pt``, ``last.pt``, ``config.yaml``, ``live/``)
appear only when training has finished, each written atomically (:func:`publish`).

:func:`train` starts a :class:`Run` (:func:`start_run`), resumes it, then alternates
:func:`run_epoch` (the steps of one epoch, see :func:`avrepro.engine.loop.train_step`) and
:func:`end_epoch` (schedule, validation, history, ``best.pt``, checkpoint).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from avrepro.config import config_hash
from avrepro.engine import ddp
from avrepro.engine.checkpoint import load_checkpoint, save_checkpoint
from avrepro.engine.console import EpochReporter, console_stream
from avrepro.engine.loop import accumulate, epoch_batches, train_step, validate
from avrepro.engine.optim import build_optimizer, build_scaler, build_scheduler
from avrepro.engine.runtime import (
    LossModule,
    loader_workers,
    prepare_model,
    seed_everything,
    select_device,
    to_device,
    use_channels_last,
)
from avrepro.io import atomic_dir, atomic_path, write_text

if TYPE_CHECKING:
    from avrepro.tasks.base import Task


def _fresh_state() -> dict:
    return {"epoch": 0, "batch": 0, "step": 0, "history": [], "best_val": math.inf}


@dataclass
class Run:
    """One training run, shared by the loop's functions. ``state`` is what checkpoints keep
    (epoch, batch in the epoch, step, history rows, best validation loss, loss sums); ``sums``
    are this rank's running loss sums of the epoch, on the device."""

    task: Task
    cfg: dict
    variant: str
    seed: int
    device: torch.device
    world: ddp.World
    threads: int
    init: Path | None
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    run_hash: str
    partial: Path
    progress: bool
    state: dict = field(default_factory=_fresh_state)
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    net: nn.Module | None = None  # the LossModule the steps call (DDP / compile wrapped)
    report: EpochReporter = field(default_factory=lambda: EpochReporter("", 0, enabled=False))

    @property
    def tcfg(self) -> dict:
        return self.cfg["train"]

    @property
    def channels_last(self) -> bool:
        return use_channels_last(self.tcfg, self.device)


def _reject_init_key(tcfg: dict) -> None:
    """Refuse ``train.init``: the checkpoint to start from is an argument, not configuration."""
    if "init" in tcfg:
        raise ValueError(
            "train.init is not a configuration key: pass the checkpoint to start from "
            "as train(init=...) (avrepro train --init)"
        )


def _join_world(device: str | None) -> tuple[torch.device, ddp.World]:
    """The device and the DDP world of this process (its local GPU when distributed on CUDA)."""
    dev = select_device(device)
    world = ddp.setup(dev)
    if world.distributed and dev.type == "cuda":
        dev = torch.device("cuda", world.local_rank)
    return dev, world


def train(
    task: Task,
    cfg: dict,
    variant: str,
    train_cache,
    val_cache,
    out_dir: str | Path,
    seed: int,
    device: str | None = None,
    progress: bool = True,
    on_step: Callable[[int], None] | None = None,
    *,
    threads: int | None = None,
    init: str | Path | None = None,
) -> dict:
    """Train ``variant`` of ``task`` and write ``best.pt``, ``last.pt``, ``config.yaml``, ``live/``.

    Under torchrun (``train.gpus > 1``, see :mod:`avrepro.engine.ddp`) every process calls this:
    each takes its slice of every global batch, DDP averages the gradients, rank 0 alone writes.

    Args:
        task: a registered task object (see :mod:`avrepro.tasks.base`).
        cfg: the task's resolved configuration section (``train`` sub-section drives the loop).
        on_step: called with the global step after each optimizer step (tests use it to
            simulate a kill).
        threads: torch threads (the rule's threads; default ``train.threads``).
        init: a checkpoint whose weights the model starts from (a curriculum's first stage),
            through the task's ``init_from``.
    Returns:
        the final epoch's logged values plus ``best_val_loss`` (the same on every rank).
    """
    _reject_init_key(cfg["train"])
    dev, world = _join_world(device)
    try:
        run, train_ds, val_ds = start_run(
            task,
            cfg,
            variant,
            train_cache,
            val_cache,
            Path(out_dir),
            seed,
            dev,
            world,
            threads or cfg["train"]["threads"],
            Path(init) if init else None,
            progress and world.main,
        )
        result = _train(run, train_ds, val_ds, Path(out_dir), on_step)
    except BaseException:
        if world.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        raise
    ddp.teardown(world)
    return result


def start_run(
    task: Task,
    cfg: dict,
    variant: str,
    train_cache,
    val_cache,
    out_dir: Path,
    seed: int,
    dev: torch.device,
    world: ddp.World,
    threads: int,
    init: Path | None,
    progress: bool,
) -> tuple[Run, Any, Any]:
    """Seed, build the model (from ``init`` when given), its optimizer, schedule and loss scaler,
    and the datasets: a fresh :class:`Run` and its training and validation datasets."""
    tcfg = cfg["train"]
    seed_everything(seed, threads if not world.distributed else max(1, threads // world.size))
    model = task.build_model(cfg, variant).to(dev)
    if init:
        init_model(task, model, init, dev)
    optimizer = build_optimizer(task.param_groups(model, cfg), tcfg)
    scheduler = build_scheduler(optimizer, tcfg)
    train_ds, val_ds = task.datasets(cfg, train_cache, val_cache, variant, seed)
    run_hash = config_hash(
        {
            "cfg": cfg,
            "variant": variant,
            "seed": seed,
            "threads": threads,
            "init": str(init) if init else None,
            "train": train_cache.clip_ids,
            "val": val_cache.clip_ids,
        }
    )
    run = Run(
        task,
        cfg,
        variant,
        seed,
        dev,
        world,
        threads,
        init,
        model,
        optimizer,
        scheduler,
        build_scaler(tcfg, dev),
        run_hash,
        out_dir / ".partial",
        progress,
    )
    return run, train_ds, val_ds


def init_model(task: Task, model: nn.Module, path: Path, dev: torch.device) -> None:
    """Start from another run's weights (e.g. a curriculum's first stage) through the task's
    ``init_from``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint to initialise from not found (--init)")
    task.init_from(model, load_checkpoint(path, dev)["model"])


def _train(run: Run, train_ds, val_ds, out_dir: Path, on_step) -> dict:
    resume(run)
    weights_note = getattr(getattr(run.model, "visual", None), "weights_note", "n/a")
    run.net = prepare_model(LossModule(run.task, run.model, run.cfg), run.tcfg, run.device, run.world)
    run.sums = {
        k: torch.tensor(v, dtype=torch.float64, device=run.device)
        for k, v in run.state.get("sums", {}).items()
    }
    loader_kw = {
        "num_workers": loader_workers(run.tcfg["num_workers"], run.threads, run.device, run.world.size),
        "pin_memory": run.device.type == "cuda",
        "persistent_workers": False,
    }
    val_loader, val_world = validation_loader(run, val_ds, loader_kw)
    epochs = run.tcfg["epochs"]
    name = f"train {run.task.name}/{run.variant}"
    run.report = EpochReporter(name, epochs, run.progress, console_stream() if run.progress else None)
    run.report.start(run.state["epoch"], str(run.device))
    bar = tqdm(total=epochs, initial=run.state["epoch"], desc=name, unit="epoch", disable=not run.progress)
    while run.state["epoch"] < epochs:
        run_epoch(run, train_ds, loader_kw, bar, on_step)
        end_epoch(run, val_loader, val_world, bar)
    bar.close()
    final = {**run.state["history"][-1], "best_val_loss": float(run.state["best_val"])}
    if run.world.main:
        publish(run, out_dir, weights_note)
    return final


def resume(run: Run) -> None:
    """Continue from ``.partial/last.pt`` when its run hash is this run's; a checkpoint of another
    configuration is removed. Every rank reads before rank 0 touches the directory."""
    last = run.partial / "last.pt"
    stale = False
    if last.exists():
        ckpt = load_checkpoint(last, run.device)
        if ckpt.get("run_hash") == run.run_hash:
            run.model.load_state_dict(ckpt["model"])
            run.optimizer.load_state_dict(ckpt["optimizer"])
            run.scheduler.load_state_dict(ckpt["scheduler"])
            if run.scaler is not None and "scaler" in ckpt:
                run.scaler.load_state_dict(ckpt["scaler"])
            run.state = ckpt["state"]
            _note(
                run,
                f"resuming {run.task.name}/{run.variant} from {last} "
                f"(epoch {run.state['epoch']}, step {run.state['step']})",
            )
        else:
            stale = True
            _note(run, f"ignoring {last}: it belongs to another configuration")
    ddp.barrier(run.world)
    if run.world.main:
        if stale:
            shutil.rmtree(run.partial)
        run.partial.mkdir(parents=True, exist_ok=True)
    ddp.barrier(run.world)


def _note(run: Run, message: str) -> None:
    if run.progress:
        tqdm.write(message)


def validation_loader(run: Run, val_ds, loader_kw: dict) -> tuple[DataLoader, ddp.World]:
    """The fixed validation batches and the world that reduces them: batches go round-robin to
    the ranks; with fewer batches than ranks every rank validates them all (the same numbers
    everywhere, no reduction needed)."""
    size, world = run.tcfg["batch_size"], run.world
    batches = [list(range(i, min(i + size, len(val_ds)))) for i in range(0, len(val_ds), size)]
    split = world.distributed and len(batches) >= world.size
    loader = DataLoader(
        val_ds, batch_sampler=batches[world.rank :: world.size] if split else batches, **loader_kw
    )
    return loader, world if split else ddp.World()


def run_epoch(run: Run, train_ds, loader_kw: dict, bar, on_step=None) -> None:
    """The optimizer steps of the current epoch, from where it stands (``state["batch"]``), with a
    checkpoint every ``train.checkpoint_every`` steps."""
    state, tcfg = run.state, run.tcfg
    epoch = state["epoch"]
    train_ds.set_epoch(epoch)
    batches = epoch_batches(len(train_ds), tcfg["batch_size"], run.seed, epoch)
    mine = [ddp.shard(b, run.world) for b in batches[state["batch"] :]]
    run.report.epoch_begins(state["batch"])
    loader = DataLoader(train_ds, batch_sampler=mine, **loader_kw)
    run.net.train()
    log_every = tcfg.get("log_every", 50)
    for batch in loader:
        batch = to_device(batch, run.device, run.channels_last)
        losses = train_step(run.net, batch, run.optimizer, tcfg, run.device, run.scaler)
        accumulate(run.sums, losses)
        state["batch"] += 1
        state["step"] += 1
        if on_step is not None:
            on_step(state["step"])
        if state["step"] % tcfg["checkpoint_every"] == 0:
            save_progress(run)
        if run.progress and state["step"] % log_every == 0:
            loss = float(losses["loss"])
            bar.set_postfix(step=state["step"], loss=f"{loss:.4g}")
            run.report.step(epoch, state["batch"], len(batches), loss)


def end_epoch(run: Run, val_loader, val_world: ddp.World, bar) -> None:
    """Step the schedule, share rank 0's buffers, validate, log the epoch's row, keep
    ``best.pt`` when validation improved, and checkpoint."""
    state = run.state
    epoch = state["epoch"]
    run.scheduler.step()
    ddp.sync_buffers(run.model, run.world)  # BatchNorm running statistics of rank 0 everywhere
    val = validate(run.task, run.model, val_loader, run.cfg, run.device, val_world, run.channels_last)
    sums = global_sums(run)
    row = {
        "epoch": epoch,
        **{f"train/{k}": v / max(1, state["batch"]) for k, v in sums.items()},
        **{f"val/{k}": v for k, v in val.items()},
    }
    row["lr"] = run.optimizer.param_groups[-1]["lr"]
    state["history"].append(row)
    state.update(epoch=epoch + 1, batch=0, sums={})
    run.sums = {}
    if val["loss"] < state["best_val"]:
        state["best_val"] = val["loss"]
        if run.world.main:
            save_checkpoint(
                run.partial / "best.pt",
                {
                    "model": run.model.state_dict(),
                    "epoch": epoch,
                    "val_loss": val["loss"],
                    "variant": run.variant,
                },
            )
    save_progress(run)
    bar.update(1)
    bar.set_postfix(train=f"{row['train/loss']:.4g}", val=f"{val['loss']:.4g}")
    run.report.epoch_done(epoch, row["train/loss"], val["loss"], state["best_val"])


def global_sums(run: Run) -> dict[str, float]:
    """The running sums of per-step mean losses, averaged over the ranks (a collective)."""
    if not run.world.distributed:
        return {k: float(v) for k, v in run.sums.items()}
    total = ddp.all_sum({k: v.clone() for k, v in sorted(run.sums.items())}, run.world)
    return {k: float(v) / run.world.size for k, v in total.items()}


def save_progress(run: Run) -> None:
    """Write ``.partial/last.pt`` (model, optimizer, schedule, loss scaler, state). Every rank
    calls it together: the loss sums are reduced over the ranks first."""
    run.state["sums"] = global_sums(run)
    if run.world.main:
        ckpt = {
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "state": run.state,
            "run_hash": run.run_hash,
        }
        if run.scaler is not None:
            ckpt["scaler"] = run.scaler.state_dict()
        save_checkpoint(run.partial / "last.pt", ckpt)
    ddp.barrier(run.world)


def publish(run: Run, out_dir: Path, weights_note: str) -> None:
    """Write the declared outputs atomically (``live/``, ``best.pt``, ``last.pt``,
    ``config.yaml``), then drop the work-in-progress directory."""
    state = run.state
    with atomic_dir(out_dir / "live") as tmp_live:
        _replay_live(tmp_live, state["history"])
    with atomic_path(out_dir / "best.pt") as tmp:
        shutil.copyfile(run.partial / "best.pt", tmp)
    save_checkpoint(
        out_dir / "last.pt",
        {"model": run.model.state_dict(), "state": state, "run_hash": run.run_hash, "variant": run.variant},
    )
    summary = {
        "task": run.task.name,
        "variant": run.variant,
        "seed": run.seed,
        "run_hash": run.run_hash,
        "device": str(run.device),
        "visual_weights": weights_note,
        "epochs": run.tcfg["epochs"],
        "steps": state["step"],
        "best_val_loss": float(state["best_val"]),
        "threads": run.threads,
        "config": run.cfg,
    }
    if run.init:
        summary["init"] = str(run.init)
    if run.world.distributed:
        summary["processes"] = run.world.size
    write_text(out_dir / "config.yaml", yaml.safe_dump(summary, sort_keys=True))
    shutil.rmtree(run.partial)


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
