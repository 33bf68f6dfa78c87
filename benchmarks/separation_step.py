"""Seconds per separation training step, full precision against bf16 autocast (`train.cpu_amp`).

    python benchmarks/separation_step.py --tree PATH [--steps 6] [--threads 2] [--set KEY=VALUE ...]
                                         [--channels-last] [--compile]

One batch of the tree's solo-clip cache (the profile's batch size), then forward, backward and an
optimizer step of the `binary` PixelPlayer, timed after a warm-up step; and the frame net and the
sound net alone (forward + backward). The step is the engine's (`avrepro.engine.loop.train_step`,
`train.grad_clip` included). On CPU the bf16 rows need a CPU with native bf16 (see
`avrepro.engine.runtime.cpu_has_bf16`); where it has none they are skipped. ``--channels-last``
adds the step with the model's weights in channels-last memory, in fp32 and (with native bf16)
under bf16 autocast: the engine's CPU fast path, ``train.cpu_channels_last`` with
``train.cpu_amp``. ``--compile`` adds the fp32 step of ``torch.compile`` of the model and its loss
(the first, compiling, step timed apart).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_tree_argument, save  # noqa: E402
from avrepro.engine.loop import train_step  # noqa: E402
from avrepro.engine.optim import build_optimizer  # noqa: E402
from avrepro.engine.runtime import (  # noqa: E402
    LossModule,
    cpu_has_bf16,
    prepare_model,
    seed_everything,
    select_device,
    train_autocast,
)
from avrepro.tasks import get_task  # noqa: E402
from avrepro.tasks.separation import spectral  # noqa: E402
from separation_budget import load_tree  # noqa: E402


def seconds_per_call(fn, steps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def time_parts(task, model, cfg: dict, batch: dict, device: torch.device, on: bool, steps: int) -> dict:
    """Seconds per call of the engine's training step, and of the frame net and the sound net
    alone (forward + backward), in fp32 or (``on``) under bf16 autocast."""
    tcfg = {**cfg["train"], "amp": "bf16" if on else "none", "cpu_amp": on}
    optimizer = build_optimizer(task.param_groups(model, cfg), cfg["train"])
    net = LossModule(task, model, cfg)
    log_mag = spectral.prepare(batch["audio"], cfg["audio"])["log_mag"]
    frames = batch["frames"].flatten(0, 1)  # every clip's frames: (B * N, n_frames, 3, h, w)

    def run(part):
        def call():
            if part == "step":
                train_step(net, batch, optimizer, tcfg, device)
            else:
                with train_autocast(device, tcfg):
                    out = model.visual(frames) if part == "frame net" else model.sound(log_mag)
                    loss = out.float().sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            if device.type == "cuda":
                torch.cuda.synchronize()

        return seconds_per_call(call, steps)

    return {part: run(part) for part in ("step", "frame net", "sound net")}


def layout_step(
    task, cfg: dict, batch: dict, device: torch.device, label: str, steps: int, bf16: bool = False
) -> dict:
    """Seconds of the first and of later steps of a fresh ``binary`` model in channels-last
    memory or compiled (``label``), in fp32 or (``bf16``) under bf16 autocast, the module as the
    engine prepares it (:func:`~avrepro.engine.runtime.prepare_model`)."""
    torch.manual_seed(0)
    model = task.build_model(cfg, "binary").to(device).train()
    layout = label == "channels-last"
    tcfg = {
        **cfg["train"],
        "amp": "bf16" if bf16 else "none",
        "cpu_amp": bf16,
        "channels_last": layout,
        "cpu_channels_last": layout,
        "compile": not layout,
    }
    optimizer = build_optimizer(task.param_groups(model, cfg), cfg["train"])
    net = prepare_model(LossModule(task, model, cfg), tcfg, device)
    start = time.perf_counter()
    train_step(net, batch, optimizer, tcfg, device)
    first = time.perf_counter() - start
    return {
        "first": first,
        "step": seconds_per_call(lambda: train_step(net, batch, optimizer, tcfg, device), steps),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_tree_argument(ap, "an output tree of the pipeline (its params.yaml and separation cache)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per row")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override separation params, e.g. model.ngf=16 (values are YAML)",
    )
    ap.add_argument(
        "--channels-last", action="store_true", help="also time the fp32 step in channels-last memory"
    )
    ap.add_argument(
        "--compile", action="store_true", help="also time the fp32 step of the torch.compile'd model"
    )
    args = ap.parse_args(argv)
    cfg, (train, val, _) = load_tree(args.tree, args.set)
    seed_everything(0, args.threads)
    device = select_device(None)
    task = get_task("separation")
    data, _ = task.datasets(cfg, train, val, "binary", 0)
    items = [data[i] for i in range(cfg["train"]["batch_size"])]
    batch = {k: torch.stack([it[k] for it in items]).to(device) for k in items[0]}
    model = task.build_model(cfg, "binary").to(device).train()
    bf16 = device.type == "cuda" or cpu_has_bf16()
    precisions = [("fp32", False)] + ([("bf16 autocast", True)] if bf16 else [])
    lines = [
        f"separation `binary`, batch {cfg['train']['batch_size']} mixtures of {cfg['mix']['n']}, "
        f"frames {cfg['frames']['crop_width']}x{cfg['frames']['crop_height']}, output stride "
        f"{cfg['model']['output_stride']}, ngf {cfg['model']['ngf']}, {device.type}, "
        f"{args.threads} threads" + "".join(f", {s}" for s in args.set)
    ]
    figures = {}
    for label, on in precisions:
        row = figures[label] = time_parts(task, model, cfg, batch, device, on, args.steps)
        lines.append(
            f"  {label:14s} step {row['step']:.3f} s (frame net {row['frame net']:.3f} s, "
            f"sound net {row['sound net']:.3f} s, forward + backward)"
        )
    if "bf16 autocast" in figures:
        ratio = figures["fp32"]["step"] / figures["bf16 autocast"]["step"]
        lines.append(f"  bf16 autocast: {ratio:.2f}x the steps per second of fp32")
    else:
        lines.append("  bf16 autocast: skipped (this CPU has no native bf16)")
    rows = [("fp32", "channels-last", False)] * args.channels_last
    rows += [("bf16", "channels-last", True)] * (args.channels_last and bf16)
    rows += [("fp32", "compiled", False)] * args.compile
    for precision, label, on in rows:
        row = figures[f"{precision} {label}"] = layout_step(task, cfg, batch, device, label, args.steps, on)
        speedup = figures["fp32"]["step"] / row["step"]
        lines.append(
            f"  {precision} {label:13s} step {row['step']:.3f} s ({speedup:.2f}x the steps per second "
            f"of fp32; first step {row['first']:.1f} s)"
        )
    save("separation_step", f"Separation training step, fp32 and bf16 ({device.type})", lines, figures)
    return figures


if __name__ == "__main__":
    main()
