"""Separation SDR against training time: the `binary` PixelPlayer trained on a tree's solo-clip
cache for a wall-clock budget, scored on the task's fixed test mixtures at several marks of it.

    python benchmarks/separation_budget.py --tree PATH [--minutes 1.5 3.5] [--batch 32] [--ngf 8] \
        [--set model.output_stride=16]

It answers how much training the model needs to pass the NMF baseline: the `default` profile
trains on 2 CPU cores for what the 45-minute DAG leaves it, which is far less. Data loading runs
in `--workers` processes; the step is the engine's (`avrepro.engine.loop.train_step`: bf16
autocast on CUDA, and on CPU with `train.cpu_amp`, off in the profiles: `--set train.cpu_amp=true`).
Evaluation time is not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_tree_argument, require, save, tree_cache, tree_paths  # noqa: E402
from avrepro.config import load_params  # noqa: E402
from avrepro.engine.loop import train_step  # noqa: E402
from avrepro.engine.optim import build_optimizer  # noqa: E402
from avrepro.engine.runtime import LossModule, seed_everything, select_device, to_device  # noqa: E402
from avrepro.tasks import get_task  # noqa: E402

KEYS = ("sdr", "sdr_sem", "sir", "sar", "sdr_mixture", "pointing_accuracy", "box_share")


def overrides(items: list[str]) -> dict:
    """``{"separation": {...}}`` from ``KEY=VALUE`` items (dotted keys under ``separation``, YAML
    values), for :func:`load_params`, which merges them into the profile and validates them."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item}: expected KEY=VALUE, e.g. model.output_stride=16")
        *parents, leaf = ["separation", *key.split(".")]
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return out


def load_tree(tree: Path, settings: list[str]) -> tuple[dict, tuple]:
    """The tree's separation params with ``KEY=VALUE`` ``settings`` applied, and its train, val and
    test feature caches."""
    cfg = load_params(require(tree / "params.yaml", "the tree's params"), overrides(settings))["separation"]
    cache = tree_paths(tree, cfg["dataset"])["cache"]
    return cfg, tuple(
        tree_cache(tree, cache / s / "separation", "the separation feature cache")
        for s in ("train", "val", "test")
    )


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_tree_argument(ap, "an output tree of the pipeline (its params.yaml, caches and metrics)")
    ap.add_argument(
        "--minutes",
        type=float,
        nargs="+",
        default=[1.5, 3.5],
        help="training minutes at which the model is scored",
    )
    ap.add_argument("--batch", type=int, default=None, help="mixtures per step (default: the profile's)")
    ap.add_argument("--ngf", type=int, default=None, help="sound U-Net width (default: the profile's)")
    ap.add_argument("--workers", type=int, default=4, help="DataLoader processes")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    ap.add_argument("--mixtures", type=int, default=None, help="test mixtures (default: the profile's)")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override separation params, e.g. model.output_stride=16 train.lr_sound=3.0e-3 "
        "(values are YAML)",
    )
    return ap.parse_args(argv)


def train_until(
    net, optimizer, data, cfg: dict, device: torch.device, workers: int, budget_s: float, clock: dict
) -> None:
    """Train ``net`` (a LossModule) with the engine's step, epoch after epoch, until ``clock``'s
    ``trained`` seconds reach ``budget_s``; ``clock`` also counts ``steps`` and ``epoch``."""
    batch_size = cfg["train"]["batch_size"]
    while clock["trained"] < budget_s:
        data.set_epoch(clock["epoch"])
        clock["epoch"] += 1
        loader = DataLoader(
            data,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=workers,
            pin_memory=device.type == "cuda",
        )
        start = time.perf_counter()
        for batch in loader:
            net.train()
            train_step(net, to_device(batch, device), optimizer, cfg["train"], device)
            clock["steps"] += 1
            if clock["trained"] + time.perf_counter() - start >= budget_s:
                break
        clock["trained"] += time.perf_counter() - start


def main(argv=None) -> dict:
    args = parse_args(argv)
    settings = args.set + [
        f"{key}={value}"
        for key, value in (
            ("train.batch_size", args.batch),
            ("model.ngf", args.ngf),
            ("eval.mixtures", args.mixtures),
        )
        if value
    ]
    cfg, (train, val, test) = load_tree(args.tree, settings)
    seed_everything(0, args.threads)
    device = select_device(None)
    task = get_task("separation")
    model = task.build_model(cfg, "binary").to(device)
    optimizer = build_optimizer(task.param_groups(model, cfg), cfg["train"])
    data, _ = task.datasets(cfg, train, val, "binary", 0)
    batch_size = cfg["train"]["batch_size"]
    shape = (
        f"batch {batch_size}, ngf {cfg['model']['ngf']}, frames {cfg['frames']['crop_width']}x"
        f"{cfg['frames']['crop_height']}, {device.type}" + "".join(f", {s}" for s in args.set)
    )
    lines, figures = [], {}
    clock = {"trained": 0.0, "steps": 0, "epoch": 0}
    net = LossModule(task, model, cfg)
    for minutes in sorted(args.minutes):
        train_until(net, optimizer, data, cfg, device, args.workers, minutes * 60, clock)
        summary, _, _ = task.evaluate(model, cfg, test, "binary", progress=False)
        steps = clock["steps"]
        row = {
            "minutes": minutes,
            "steps": steps,
            "mixtures_seen": steps * batch_size,
            **{k: summary[k] for k in KEYS},
        }
        figures[f"{minutes:g} min"] = row
        lines.append(
            f"  {minutes:5.1f} min  {steps:6d} steps  SDR {row['sdr']:6.2f} +- "
            f"{row['sdr_sem']:.2f} dB (mixture {row['sdr_mixture']:.2f}), SIR "
            f"{row['sir']:.2f}, SAR {row['sar']:.2f}, pointing {row['pointing_accuracy']:.3f} "
            f"(chance {row['box_share']:.3f}); {shape}"
        )
        print(lines[-1], flush=True)
    lines.append(f"  baselines on the same mixtures: {args.tree}/reports/metrics/separation_*.json")
    for name in ("mixture", "nmf", "nmf_supervised", "ibm"):
        path = args.tree / f"reports/metrics/separation_{name}.json"
        if path.exists():
            lines.append(f"    {name:15s} SDR {json.loads(path.read_text())['sdr']:.2f} dB")
    save("separation_budget", f"Separation SDR against training time ({device.type})", lines, figures)
    return figures


if __name__ == "__main__":
    main()
