"""Binaural training throughput (windows/s) at a profile's shapes: the engine's training step
(:func:`avrepro.engine.loop.train_step`: forward, STFTs on the device, backward, the profile's
optimizer) on batches already in memory.

    python benchmarks/train_throughput.py [--profiles default paper] [--seconds 20]

On CPU the engine's path is fp32 (bf16, channels-last and compile apply on CUDA only), and the
`paper` profile runs at a small batch (--cpu-paper-batch, default 4) instead of 256. On CUDA
each profile is measured twice side by side: the plain fp32 step (no autocast, contiguous
tensors, a host sync per step to read the loss) and the engine's fast path (bf16 autocast,
channels-last, losses kept on the device, optional torch.compile with --compile).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, save  # noqa: E402
from avrepro.config import load_params  # noqa: E402
from avrepro.engine.loop import train_step  # noqa: E402
from avrepro.engine.optim import build_optimizer, build_scaler  # noqa: E402
from avrepro.engine.runtime import LossModule, prepare_model, seed_everything, to_device, use_channels_last  # noqa: E402
from avrepro.tasks import get_task  # noqa: E402
from avrepro.tasks.binaural.data import window_samples  # noqa: E402
from avrepro.tasks.binaural.rir import rir_shape  # noqa: E402


def measure(
    cfg: dict,
    batch_size: int,
    device: torch.device,
    fast: bool,
    seconds: float,
    warmup: int = 2,
    max_steps: int = 50,
    variant: str = "full",
) -> dict:
    task = get_task("binaural")
    cfg = copy.deepcopy(cfg)
    cfg["model"]["weights"] = "none"  # throughput does not depend on the initial weights
    tcfg = cfg["train"]
    if not fast:
        tcfg.update(amp="none", channels_last=False, compile=False)
    seed_everything(0)
    model = task.build_model(cfg, variant).to(device)
    optimizer = build_optimizer(task.param_groups(model, cfg), tcfg)
    net = prepare_model(LossModule(task, model, cfg), tcfg, device)
    n = window_samples(cfg["audio"], cfg["features"]["sample_rate"])
    h, w = cfg["frames"]["crop_height"], cfg["frames"]["crop_width"]
    pin = device.type == "cuda"
    # an item is a pair of windows of one clip (see BinauralWindows): (B, 2, [L, R], n), frames
    # (B, 2, 3, h, w), coherence labels and RIR targets for the variants that use them
    host = {
        "audio": 0.1 * torch.randn(batch_size, 2, 2, n),
        "frame": torch.randn(batch_size, 2, 3, h, w),
        "swap": torch.randint(0, 2, (batch_size, 2)).float(),
        "rir": torch.randn(batch_size, *rir_shape(cfg["rir"])),
    }
    if pin:
        host = {k: v.pin_memory() for k, v in host.items()}
    cl, scaler = use_channels_last(tcfg, device), build_scaler(tcfg, device)
    net.train()
    total = torch.zeros((), dtype=torch.float64, device=device)
    steps, start = 0, None
    while True:
        if steps == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        loss = train_step(net, to_device(host, device, cl), optimizer, tcfg, device, scaler)["loss"]
        if fast:
            total += loss.detach().double()
        else:
            float(loss.detach())  # the per-step host sync of a naive loop
        steps += 1
        if start is not None and (
            steps - warmup >= max_steps or (time.perf_counter() - start > seconds and steps - warmup >= 2)
        ):
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    timed = steps - warmup
    return {
        "steps": timed,
        "batch": batch_size,
        "seconds": elapsed,
        "samples_per_s": timed * batch_size * 2 / elapsed,
    }  # two windows per item


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profiles", nargs="+", default=["default", "paper"], help="params.yaml profiles")
    ap.add_argument(
        "--seconds", type=float, default=20.0, help="timed seconds per measurement (after warm-up)"
    )
    ap.add_argument(
        "--cpu-paper-batch", type=int, default=4, help="batch of the paper profile on CPU (its own is 256)"
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads on CPU (the rule's threads)")
    ap.add_argument("--compile", action="store_true", help="CUDA fast path with torch.compile")
    ap.add_argument("--variant", default="full", help="binaural variant (default: full, every head)")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(args.threads)
    lines, figures = [], {}
    if device.type == "cpu":
        lines.append("No CUDA device: CPU figures only (the GPU comparison of issue 8 was not measured).")
    for profile in args.profiles:
        cfg = load_params(ROOT / "params.yaml", {"profile": profile})["binaural"]
        cfg["train"]["compile"] = bool(args.compile)
        batch = cfg["train"]["batch_size"]
        if device.type == "cpu" and profile == "paper":
            batch = min(batch, args.cpu_paper_batch)
        m, f = cfg["model"], cfg["frames"]
        shape = (
            f"{args.variant}, ngf {m['ngf']}, frames {f['crop_width']}x{f['crop_height']}, "
            f"{cfg['audio']['window_seconds']} s windows, batch {batch} pairs"
        )
        modes = [("fp32", False)] if device.type == "cpu" else [("plain fp32", False), ("fast", True)]
        for label, fast in modes:
            r = measure(cfg, batch, device, fast, args.seconds, variant=args.variant)
            figures[f"{profile}/{label}"] = r
            lines.append(
                f"  {profile:8s} {device.type} {label:10s} {r['samples_per_s']:9.2f} samples/s "
                f"({r['steps']} steps of {batch} in {r['seconds']:.1f} s; {shape})"
            )
        if device.type == "cuda":
            fast_row, plain_row = figures[f"{profile}/fast"], figures[f"{profile}/plain fp32"]
            ratio = fast_row["samples_per_s"] / plain_row["samples_per_s"]
            figures[f"{profile}/speedup"] = ratio
            lines.append(f"  {profile:8s} fast / plain fp32: {ratio:.2f}x")
    save("train_throughput", f"Binaural training throughput ({device.type})", lines, figures)
    return figures


if __name__ == "__main__":
    main()
