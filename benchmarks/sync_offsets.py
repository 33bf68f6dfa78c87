"""Does `avrepro sync` recover a known audio-video offset? The sync net's scan on test clips whose
audio this script shifts by known offsets, against chance for the same scan.

    python benchmarks/sync_offsets.py --tree PATH [--model DIR] [--offsets -0.4 -0.2 0.2 0.4] \
        [--max-shift SECONDS] [--windows 16] [--split test] [--clips N]

Each test clip (the tree's manifest and split of the sync dataset) is written as an mp4 with its
audio late by each offset (early when negative), cut to the span both tracks cover
(:func:`avrepro.tasks.sync.infer.write_offset_clip`, the demo's), and read back by the verb's own
path (:func:`~avrepro.tasks.sync.infer.load_clip`, :func:`~avrepro.tasks.sync.infer.sync_video`).
A hit is an estimate within one frame of the truth. Chance for the same scan: the share of the
candidate shifts within one frame of the truth, and a random scorer (standard-normal logits for
every window and shift) run on the very same scans.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_tree_argument, require, save  # noqa: E402
from avrepro.data.media_clips import split_clips  # noqa: E402
from avrepro.engine.infer import load_trained  # noqa: E402
from avrepro.media import read_mp4_frames, read_wav  # noqa: E402
from avrepro.tasks import get_task  # noqa: E402
from avrepro.tasks.sync.infer import load_clip, sync_video, write_offset_clip  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_tree_argument(ap)
    ap.add_argument("--model", type=Path, default=None, help="a sync model (default: TREE/models/sync/fused)")
    ap.add_argument("--profile", default="default", help="the tree's profile the model was trained with")
    ap.add_argument(
        "--offsets", type=float, nargs="+", default=[-0.4, -0.2, 0.2, 0.4], help="known offsets (s)"
    )
    ap.add_argument(
        "--max-shift", type=float, default=None, help="the scan's range (s; default: the verb's default)"
    )
    ap.add_argument("--windows", type=int, default=16, help="windows per scan (the verb's default 16)")
    ap.add_argument("--split", default="test", help="the split whose clips are shifted")
    ap.add_argument("--clips", type=int, default=0, help="only N clips spread evenly over the split (0: all)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    return ap.parse_args(argv)


def random_score(seed: int):
    """Standard-normal logits for every track: a scorer that knows nothing."""
    rng = np.random.default_rng(seed)
    return lambda example: rng.standard_normal(example["audio"].shape[0])


def run_clip(model, cfg: dict, clip: dict, offsets: list[float], args, work: Path) -> list[dict]:
    """One clip's records: per offset, the net's and the random scorer's estimates (frames)."""
    frames, fps = read_mp4_frames(clip["video"])
    audio, rate = read_wav(clip["audio"])
    records = []
    for k, offset_s in enumerate(offsets):
        true = int(round(offset_s * fps))
        path = write_offset_clip(frames, fps, audio, rate, true, work / f"{clip['clip_id']}_{k}.mp4")
        media = load_clip(path, cfg, fps)
        net, _, plan = sync_video(
            model, cfg, media, max_shift=args.max_shift, windows=args.windows, progress=False
        )
        rand, _, _ = sync_video(
            model,
            cfg,
            media,
            max_shift=args.max_shift,
            windows=args.windows,
            score=random_score(zlib.crc32(clip["clip_id"].encode()) + k),
            progress=False,
        )
        shifts = np.asarray(plan.shifts)
        records.append(
            {
                "clip_id": clip["clip_id"],
                "true": true,
                "net": net["offset_frames"],
                "random": rand["offset_frames"],
                "confidence": net["confidence"],
                "chance": float(np.mean(np.abs(shifts - true) <= 1)),
                "n_shifts": len(shifts),
                "n_windows": net["n_windows"],
            }
        )
        path.unlink()
    return records


def summary_lines(df: pd.DataFrame, args, fps: float, seconds: float) -> tuple[list[str], dict]:
    """The table per offset and overall: hits within one frame (net, random scorer, candidates)."""
    df = df.assign(hit=(df.net - df.true).abs() <= 1, rand_hit=(df.random - df.true).abs() <= 1)
    df = df.assign(exact=df.net == df.true, err=(df.net - df.true).abs() / fps)
    lines = [
        f"scan: the verb's (max shift {args.max_shift or 'by default'}, steps of {1 / fps:g} s, "
        f"up to {args.windows} windows); {df.clip_id.nunique()} {args.split} clips; {seconds:.0f} s",
        f"{'offset':>8} {'n':>4} {'shifts':>6} {'within 1 frame':>15} {'exact':>6} {'|err| s':>8} "
        f"{'random scorer':>14} {'chance':>7}",
    ]
    groups = [(f"{t / fps:+.2f} s", g) for t, g in df.groupby("true")] + [("all", df)]
    for name, g in groups:
        lines.append(
            f"{name:>8} {len(g):>4} {g.n_shifts.mean():>6.1f} {g.hit.mean():>15.3f} {g.exact.mean():>6.3f} "
            f"{g.err.mean():>8.3f} {g.rand_hit.mean():>14.3f} {g.chance.mean():>7.3f}"
        )
    confident = df.confidence >= df.confidence.median()
    lines.append(
        f"within one frame: {df[confident].hit.mean():.3f} of the more confident half of the scans, "
        f"{df[~confident].hit.mean():.3f} of the other half"
    )
    figures = {
        "within_one_frame": float(df.hit.mean()),
        "exact": float(df.exact.mean()),
        "mean_abs_error_s": float(df.err.mean()),
        "random_within_one_frame": float(df.rand_hit.mean()),
        "chance_within_one_frame": float(df.chance.mean()),
        "n": int(len(df)),
    }
    return lines, figures


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    task = get_task("sync")
    model_dir = args.model or args.tree / "models/sync/fused"
    params = require(args.tree / "params.yaml", "the tree's params")
    model, cfg, variant = load_trained(task, model_dir, "cpu", params=params, profile=args.profile)
    data = args.tree / "data"
    clips = split_clips(
        require(data / "manifests/synthetic.csv", "the manifest"),
        data / "raw/synthetic",
        require(data / f"splits/synthetic/{args.split}.txt", "the split"),
        args.clips or 10**9,
    )
    start, records = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as work, torch.inference_mode():
        for clip in clips:
            records += run_clip(model, cfg, clip, args.offsets, args, Path(work))
    fps = read_mp4_frames(clips[0]["video"])[1]
    lines, figures = summary_lines(pd.DataFrame(records), args, fps, time.perf_counter() - start)
    lines.insert(0, f"model {model_dir} ({variant})")
    save("sync_offsets", "Sync: recovering known audio-video offsets", lines, figures)


if __name__ == "__main__":
    main()
