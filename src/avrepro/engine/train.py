"""The training loop: seeded, resumable, logged with dvclive, AMP on CUDA.

Work in progress lives in ``<out>/.partial/`` (``last.pt`` every ``checkpoint_every`` steps and
at every epoch end, ``best.pt``); a rerun after a kill resumes from it when the configuration
hash matches. The declared outputs (``best.pt``, ``last.pt``, ``config.yaml``, ``live/``)
appear only when training has finished, each written atomically.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
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


def autocast(device: torch.device, amp: str):
    """bf16/fp16 autocast on CUDA; full precision on CPU."""
    if device.type != "cuda" or amp == "none":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


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


def train(task, cfg: dict, variant: str, train_cache, val_cache, out_dir: str | Path, seed: int,
          device: str | None = None, progress: bool = True,
          on_step: Callable[[int], None] | None = None) -> dict:
    """Train ``variant`` of ``task`` and write ``best.pt``, ``last.pt``, ``config.yaml``, ``live/``.

    Args:
        task: a registered task object (see :mod:`avrepro.tasks.base`).
        cfg: the task's resolved configuration section (``train`` sub-section drives the loop).
        on_step: called with the global step after each optimizer step (tests use it to
            simulate a kill).
    Returns:
        the final epoch's logged values plus ``best_val_loss``.
    """
    out_dir = Path(out_dir)
    tcfg = cfg["train"]
    seed_everything(seed, tcfg["threads"])
    dev = select_device(device)
    model = task.build_model(cfg, variant).to(dev)
    optimizer = torch.optim.Adam(task.param_groups(model, cfg), weight_decay=tcfg["weight_decay"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, tcfg["lr_decay_every"], tcfg["lr_decay"])
    train_ds, val_ds = task.datasets(cfg, train_cache, val_cache, variant, seed)
    run_hash = config_hash({"cfg": cfg, "variant": variant, "seed": seed,
                            "train": train_cache.clip_ids, "val": val_cache.clip_ids})
    partial = out_dir / ".partial"
    state = {"epoch": 0, "batch": 0, "step": 0, "history": [], "best_val": math.inf}
    if (partial / "last.pt").exists():
        ckpt = load_checkpoint(partial / "last.pt", dev)
        if ckpt.get("run_hash") == run_hash:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            state = ckpt["state"]
            tqdm.write(f"resuming {task.name}/{variant} from {partial / 'last.pt'} "
                       f"(epoch {state['epoch']}, step {state['step']})")
        else:
            tqdm.write(f"ignoring {partial / 'last.pt'}: it belongs to another configuration")
            shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    weights_note = getattr(getattr(model, "visual", None), "weights_note", "n/a")

    def checkpoint() -> None:
        save_checkpoint(partial / "last.pt", {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "state": state, "run_hash": run_hash})

    loader_kw = {"num_workers": tcfg["num_workers"], "pin_memory": dev.type == "cuda",
                 "persistent_workers": False}
    val_loader = DataLoader(val_ds, batch_size=tcfg["batch_size"], shuffle=False, **loader_kw)
    epochs = tcfg["epochs"]
    bar = tqdm(total=epochs, initial=state["epoch"], desc=f"train {task.name}/{variant}",
               unit="epoch", disable=not progress)
    while state["epoch"] < epochs:
        epoch = state["epoch"]
        train_ds.set_epoch(epoch)
        batches = epoch_batches(len(train_ds), tcfg["batch_size"], seed, epoch)
        loader = DataLoader(train_ds, batch_sampler=batches[state["batch"]:], **loader_kw)
        model.train()
        sums = state.setdefault("sums", {})
        for batch in loader:
            batch = _to(batch, dev)
            with autocast(dev, tcfg["amp"]):
                losses = task.losses(model, batch, cfg)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            state["batch"] += 1
            state["step"] += 1
            if on_step is not None:
                on_step(state["step"])
            if state["step"] % tcfg["checkpoint_every"] == 0:
                checkpoint()
            bar.set_postfix(step=state["step"], loss=f"{float(losses['loss'].detach()):.4g}")
        scheduler.step()
        val = _validate(task, model, val_loader, cfg, dev, tcfg["amp"])
        row = {"epoch": epoch, **{f"train/{k}": v / max(1, state["batch"]) for k, v in sums.items()},
               **{f"val/{k}": v for k, v in val.items()}}
        row["lr"] = optimizer.param_groups[-1]["lr"]
        state["history"].append(row)
        state.update(epoch=epoch + 1, batch=0, sums={})
        if val["loss"] < state["best_val"]:
            state["best_val"] = val["loss"]
            save_checkpoint(partial / "best.pt", {"model": model.state_dict(), "epoch": epoch,
                                                  "val_loss": val["loss"], "variant": variant})
        checkpoint()
        bar.update(1)
        bar.set_postfix(train=f"{row['train/loss']:.4g}", val=f"{val['loss']:.4g}")
    bar.close()

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
    write_text(out_dir / "config.yaml", yaml.safe_dump(summary, sort_keys=True))
    shutil.rmtree(partial)
    return {**state["history"][-1], "best_val_loss": float(state["best_val"])}


@torch.no_grad()
def _validate(task, model, loader, cfg, dev, amp) -> dict:
    model.eval()
    sums, n = {}, 0
    for batch in loader:
        batch = _to(batch, dev)
        with autocast(dev, amp):
            losses = task.losses(model, batch, cfg)
        size = next(iter(batch.values())).shape[0]
        for key, value in losses.items():
            sums[key] = sums.get(key, 0.0) + float(value) * size
        n += size
    return {k: v / max(1, n) for k, v in sums.items()}
