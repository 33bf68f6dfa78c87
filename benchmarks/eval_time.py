"""Binaural evaluation time per test clip: the official sliding-window evaluation (0.63 s windows,
hop eval.hop_seconds, batched) of a trained variant, and the mono-mono baseline.

    python benchmarks/eval_time.py --tree /path/to/complete/tree [--clips 20] [--variant film]

Uses the tree's checkpoint when there is one (the time does not depend on the weights).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, require, save, tree_paths  # noqa: E402
from avrepro.config import load_params  # noqa: E402
from avrepro.data.cache import FeatureCache  # noqa: E402
from avrepro.engine.evaluate import load_model  # noqa: E402
from avrepro.engine.runtime import seed_everything, select_device  # noqa: E402
from avrepro.tasks import get_task  # noqa: E402


class FirstClips:
    """The first ``n`` clips of a feature cache, with the interface evaluation reads."""

    def __init__(self, cache: FeatureCache, n: int):
        self.cache, self.n = cache, min(n, len(cache))
        self.clip_ids = cache.clip_ids[: self.n]
        self.sample_rate, self.fps = cache.sample_rate, cache.fps

    def __len__(self):
        return self.n

    def audio_float(self, i):
        return self.cache.audio_float(i)

    def frames(self, i):
        return self.cache.frames(i)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--tree", type=Path, default=Path("."), help="a complete output tree (a checkout after a run)"
    )
    ap.add_argument("--dataset", default="synthetic", help="the binaural dataset of the tree")
    ap.add_argument("--clips", type=int, default=20, help="test clips evaluated")
    ap.add_argument(
        "--variant", default="film", help="the binaural variant (its best.pt when the tree has it)"
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the rule's threads)")
    args = ap.parse_args(argv)
    paths = tree_paths(args.tree, args.dataset)
    cfg = load_params(require(paths["params"], "params.yaml"))["binaural"]
    cache = FeatureCache(require(paths["cache"] / "test/binaural", "test feature cache"))
    test = FirstClips(cache, args.clips)
    seed_everything(0, args.threads)
    dev = select_device()
    task = get_task("binaural")
    ckpt = paths["models"] / "binaural" / args.variant / "best.pt"
    if ckpt.is_file():
        model, weights = load_model(task, cfg, args.variant, ckpt, dev), str(ckpt)
    else:
        model = task.build_model({**cfg, "model": {**cfg["model"], "weights": "none"}}, args.variant).to(dev)
        weights = "random weights"
    clip_s = sum(test.cache.info(i)["n_samples"] for i in range(len(test))) / test.sample_rate / len(test)
    lines = [
        f"{len(test)} test clips of {clip_s:.1f} s, hop {cfg['eval']['hop_seconds']} s, "
        f"{cfg['eval']['batch_windows']} windows per batch, {dev.type}, {args.threads} threads; "
        f"{weights}"
    ]
    figures = {"clips": len(test), "clip_seconds": clip_s}
    runs = {
        args.variant: lambda: task.evaluate(model, cfg, test, args.variant, progress=False),
        "mono_mono": lambda: task.baseline("mono_mono", cfg, test, progress=False),
    }
    for name, run in runs.items():
        with Timer() as t, torch.inference_mode():
            summary, _, _ = run()
        per_clip = t.seconds / len(test)
        figures[name] = {
            "seconds": t.seconds,
            "seconds_per_clip": per_clip,
            "stft_distance": summary["stft_distance"],
        }
        lines.append(
            f"  {name:10s} {per_clip * 1000:8.1f} ms/clip ({t.seconds:.2f} s in all, "
            f"{clip_s / per_clip:.1f}x real time; metrics included)"
        )
    save("eval_time", "Binaural evaluation time per clip", lines, figures)
    return figures


if __name__ == "__main__":
    main()
