"""Separation SDR against training time: the `binary` PixelPlayer trained on a tree's solo-clip
cache for a wall-clock budget, scored on the task's fixed test mixtures at several marks of it.

    python benchmarks/separation_budget.py --tree PATH [--minutes 1.5 3.5] [--batch 32] [--ngf 8] [--set model.output_stride=16]

It answers how much training the model needs to pass the NMF baseline: the `default` profile
trains on 2 CPU cores for what the 45-minute DAG leaves it, which is far less. Data loading runs
in `--workers` processes; the step uses bf16 autocast on CUDA, and on CPU with `train.cpu_amp`
(off in the profiles; `--set train.cpu_amp=true`). Evaluation time is not counted.
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
from _common import require, save, tree_cache, tree_paths  # noqa: E402

from avrepro.config import load_params  # noqa: E402
from avrepro.engine.train import build_optimizer, seed_everything, select_device, train_autocast  # noqa: E402
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
    return cfg, tuple(tree_cache(tree, cache / s / "separation", "the separation feature cache")
                      for s in ("train", "val", "test"))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.5, 3.5],
                    help="training minutes at which the model is scored")
    ap.add_argument("--batch", type=int, default=None, help="mixtures per step (default: the profile's)")
    ap.add_argument("--ngf", type=int, default=None, help="sound U-Net width (default: the profile's)")
    ap.add_argument("--workers", type=int, default=4, help="DataLoader processes")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    ap.add_argument("--mixtures", type=int, default=None, help="test mixtures (default: the profile's)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override separation params, e.g. model.output_stride=16 train.lr_sound=3.0e-3 "
                         "(values are YAML)")
    args = ap.parse_args(argv)
    settings = args.set + [f"{key}={value}" for key, value in (
        ("train.batch_size", args.batch), ("model.ngf", args.ngf), ("eval.mixtures", args.mixtures)) if value]
    cfg, (train, val, test) = load_tree(args.tree, settings)
    seed_everything(0, args.threads)
    device = select_device(None)
    task = get_task("separation")
    model = task.build_model(cfg, "binary").to(device)
    optimizer = build_optimizer(task.param_groups(model, cfg), cfg["train"])
    data, _ = task.datasets(cfg, train, val, "binary", 0)
    batch_size = cfg["train"]["batch_size"]
    shape = f"batch {batch_size}, ngf {cfg['model']['ngf']}, frames {cfg['frames']['crop_width']}x" \
            f"{cfg['frames']['crop_height']}, {device.type}" + "".join(f", {s}" for s in args.set)
    lines, figures = [], {}
    trained, steps, epoch, marks = 0.0, 0, 0, sorted(args.minutes)
    while marks:
        data.set_epoch(epoch)
        epoch += 1
        loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True,
                            num_workers=args.workers, pin_memory=device.type == "cuda")
        start = time.perf_counter()
        for batch in loader:
            model.train()
            batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
            with train_autocast(device, cfg["train"]):
                loss = task.losses(model, batch, cfg)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
            if trained + time.perf_counter() - start >= marks[0] * 60:
                break
        trained += time.perf_counter() - start
        if trained >= marks[0] * 60:
            summary, _, _ = task.evaluate(model, cfg, test, "binary", progress=False)
            row = {"minutes": marks.pop(0), "steps": steps, "mixtures_seen": steps * batch_size,
                   **{k: summary[k] for k in KEYS}}
            figures[f"{row['minutes']:g} min"] = row
            lines.append(f"  {row['minutes']:5.1f} min  {steps:6d} steps  SDR {row['sdr']:6.2f} +- "
                         f"{row['sdr_sem']:.2f} dB (mixture {row['sdr_mixture']:.2f}), SIR "
                         f"{row['sir']:.2f}, SAR {row['sar']:.2f}, pointing {row['pointing_accuracy']:.3f} "
                         f"(chance {row['box_share']:.3f}); {shape}")
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
