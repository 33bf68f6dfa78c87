"""`avrepro locate` on the synthetic 360 test clips: how often the heat map's peak is within an
angle of a true source, against chance for the same scan.

    python benchmarks/spatial_locate.py --tree PATH [--variants avsa avc] [--angles 30 45] \
        [--pitch-step 15] [--yaw-step 15] [--yaw-shifts 0 90 180 270] [--threads 2]

For every test clip of the tree's `spatial` dataset (its 360 video, FOA wav and meta, whose
`view360.sources` are the true directions), each trained variant scores every window over the
verb's grid of directions with the verb's own functions (`avrepro.tasks.spatial.infer`), and the
peak of each window's map and of the clip's overall map (mean of the windows) is compared with the
nearest true source: great-circle angle and azimuth-only angle. Scores: the verb's `centered`
(default) and `aligned`, and two controls from the same similarity matrices: `video_only` (each
crop's mean similarity over every audio direction: what the picture alone says) and `audio_only`
(each audio direction's mean over every crop). Chance: a peak drawn uniformly over the same grid
(exact expectation: the share of grid directions within the angle of a source), and the share of
the sphere within the angle of a source; `front` is a constant peak at azimuth 0, elevation 0.
The synthetic scenes put the camera's sources near the front, so every clip is also scored turned
by each of `--yaw-shifts` (equirect frames rolled, FOA rotated the same way, sources moved): the
constant front peak then hits far less often, a map that follows the scene does not change.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, require, save, tree_cache  # noqa: E402
from avrepro.audio.ambisonics import rotate  # noqa: E402
from avrepro.data.cache import to_int16  # noqa: E402
from avrepro.data.media_clips import MediaClips, split_clips  # noqa: E402
from avrepro.engine.infer import load_trained  # noqa: E402
from avrepro.tasks import get_task  # noqa: E402
from avrepro.tasks.spatial.infer import (  # noqa: E402
    direction_grid,
    direction_scores,
    load_foa_clip,
    peak_direction,
    plan_windows,
    source_errors,
    view360_meta_sources,
    window_similarity,
)

SCORES = ("centered", "aligned", "video_only", "audio_only")


def test_clips(tree: Path, dataset: str) -> list[dict]:
    """Every test clip of ``dataset`` in ``tree``: ``{"clip_id", "video", "audio", "meta"}`` (the raw
    folder is the one the test cache was built from)."""
    cache = tree_cache(tree, tree / f"data/cache/{dataset}/test/spatial", "the spatial test cache")
    manifest = require(tree / f"data/manifests/{dataset}.csv", "the manifest")
    split = require(tree / f"data/splits/{dataset}/test.txt", "the test split")
    return split_clips(manifest, cache.raw_dir, split, len(cache))


def all_scores(sim: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Every score of :data:`SCORES` from one window's similarity matrix."""
    return {
        "centered": direction_scores(sim, "centered", shape),
        "aligned": direction_scores(sim, "aligned", shape),
        "video_only": sim.mean(1).reshape(shape),
        "audio_only": sim.mean(0).reshape(shape),
    }


def clip_maps(model, cfg: dict, clips, grid) -> dict[str, np.ndarray]:
    """``{score: (windows, pitches, yaws)}`` of one decoded clip, default windows (the verb's)."""
    win = plan_windows(clips, cfg, None, None)
    maps: dict[str, list] = {s: [] for s in SCORES}
    for start in win.starts:
        per = [
            all_scores(window_similarity(model, clips, start + p, win.model, grid, cfg), grid.shape)
            for p in win.pieces
        ]
        for s in SCORES:
            maps[s].append(np.mean([x[s] for x in per], axis=0))
    return {s: np.stack(v) for s, v in maps.items()}


def turned(clips: MediaClips, yaw_deg: float, sources: list[dict]) -> tuple[MediaClips, list[dict]]:
    """The clip turned by ``yaw_deg`` about the vertical (rounded to whole frame columns): equirect
    frames rolled, FOA rotated the same way (:func:`avrepro.audio.ambisonics.rotate`), sources
    moved: a scene whose sources are no longer near the front."""
    clip = clips.clips[0]
    width = clip.frames.shape[2]
    cols = int(round(-yaw_deg * width / 360.0))
    yaw = -360.0 * cols / width
    audio = to_int16(rotate(clip.audio.astype(np.float32) / 32767.0, yaw))
    moved = replace(clip, audio=audio, frames=np.roll(clip.frames, cols, axis=2))
    shifted = [{**s, "azimuth_deg": (s["azimuth_deg"] + yaw + 180.0) % 360.0 - 180.0} for s in sources]
    return MediaClips([moved], clips.sample_rate), shifted


def peak_rows(key: dict, maps: dict, grid, sources: list[dict]) -> list[dict]:
    """One row per score x (overall map, each window): the peak and its great-circle and
    azimuth errors to the nearest source; ``key`` names the variant, clip and turn."""
    rows = []
    for score, m in maps.items():
        for window, scores in [(-1, m.mean(0)), *enumerate(m)]:
            yaw, pitch = peak_direction(scores, grid)
            great, azim = source_errors(yaw, pitch, sources)
            rows.append(
                {
                    **key,
                    "score": score,
                    "window": window,
                    "yaw": yaw,
                    "pitch": pitch,
                    "great": great,
                    "azim": azim,
                }
            )
    return rows


def chance_rows(key: dict, grid, sources: list[dict], angles) -> dict:
    """Chance for one clip: uniform grid peak, uniform sphere point, and the constant front peak."""
    dirs = [(y, p) for p in grid.pitches for y in grid.yaws]
    errs = np.array([source_errors(y, p, sources) for y, p in dirs])  # (m, 2)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(20000, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    az, el = np.degrees(np.arctan2(v[:, 1], v[:, 0])), np.degrees(np.arcsin(v[:, 2]))
    sphere = np.array([source_errors(a, e, sources)[0] for a, e in zip(az[:4000], el[:4000], strict=True)])
    front = source_errors(0.0, 0.0, sources)
    out = dict(key)
    for a in angles:
        out[f"grid_great_{a}"] = float((errs[:, 0] <= a).mean())
        out[f"grid_azim_{a}"] = float((errs[:, 1] <= a).mean())
        out[f"sphere_great_{a}"] = float((sphere <= a).mean())
        out[f"front_great_{a}"] = float(front[0] <= a)
        out[f"front_azim_{a}"] = float(front[1] <= a)
    return out


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--tree", type=Path, required=True, help="an output tree of the pipeline (default profile)"
    )
    ap.add_argument("--variants", nargs="+", default=["avsa", "avc"], help="trained spatial variants")
    ap.add_argument("--angles", type=float, nargs="+", default=[30.0, 45.0], help="hit angles in degrees")
    ap.add_argument("--yaw-step", type=float, default=15.0, help="the verb's --yaw-step")
    ap.add_argument("--pitch-step", type=float, default=15.0, help="the verb's --pitch-step (0: horizon)")
    ap.add_argument(
        "--params",
        type=Path,
        default=ROOT / "params.yaml",
        help="the params file of the models (eval settings)",
    )
    ap.add_argument("--profile", default="default", help="the profile the models were trained with")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument(
        "--yaw-shifts",
        type=float,
        nargs="+",
        default=[0.0, 90.0, 180.0, 270.0],
        help="each clip is also scored turned by these yaws (frames rolled, FOA rotated alike): "
        "the synthetic sources sit near the front, the turns take that prior away",
    )
    ap.add_argument("--csv", type=Path, default=None, help="also write the per-clip rows here")
    args = ap.parse_args(argv)
    args.angles = [int(a) if float(a).is_integer() else a for a in args.angles]
    return args


def measure(args) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per-peak rows of every variant and turn, per-clip chance rows, seconds per clip and turn."""
    task, rows, chance, secs = get_task("spatial"), [], [], {}
    params = require(args.params, "the params file")
    for variant in args.variants:
        model_dir = require(args.tree / "models/spatial" / variant / "best.pt", "a trained model").parent
        model, cfg, _ = load_trained(task, model_dir, "cpu", params=params, profile=args.profile)
        grid = direction_grid(cfg, args.yaw_step, args.pitch_step, None)
        clips = test_clips(args.tree, cfg["dataset"])
        t0 = time.perf_counter()
        with torch.inference_mode():
            for clip in clips:
                decoded = load_foa_clip(clip["video"], clip["audio"], cfg)
                for shift in args.yaw_shifts:
                    media, sources = turned(decoded, shift, view360_meta_sources(clip["meta"]))
                    key = {"variant": variant, "clip": clip["clip_id"], "turn": shift}
                    rows += peak_rows(key, clip_maps(model, cfg, media, grid), grid, sources)
                    if variant == args.variants[0]:
                        chance.append(chance_rows(key, grid, sources, args.angles))
        secs[variant] = (time.perf_counter() - t0) / (len(clips) * len(args.yaw_shifts))
    return pd.DataFrame(rows), pd.DataFrame(chance), secs


def report_lines(peaks: pd.DataFrame, chance: pd.DataFrame, secs: dict, args) -> tuple[list[str], dict]:
    """The printed table and the stored figures."""
    angles = args.angles
    n_clips = peaks["clip"].nunique()
    turns = ", ".join(f"{t:g}" for t in args.yaw_shifts)
    head = "variant      score       unit     " + "  ".join(f"great<={a:<4} azim<={a:<4}" for a in angles)
    lines = [
        f"{n_clips} test clips, each turned by {turns} deg (frames and FOA alike); grid yaw step "
        f"{args.yaw_step} deg, pitch step {args.pitch_step} deg; share of peaks (clips: the overall "
        "map; windows: each window's map) within the angle of the nearest true source",
        head,
    ]
    figures: dict = {"n_clips": int(n_clips), "turns_deg": list(args.yaw_shifts), "seconds_per_clip": secs}
    for (variant, score), g in peaks.groupby(["variant", "score"], sort=False):
        for unit, sel in (("clips", g["window"] < 0), ("windows", g["window"] >= 0)):
            cells = []
            for a in angles:
                great, azim = float((g[sel]["great"] <= a).mean()), float((g[sel]["azim"] <= a).mean())
                figures[f"{variant}/{score}/{unit}/great_{a}"] = great
                figures[f"{variant}/{score}/{unit}/azim_{a}"] = azim
                cells.append(f"{great:10.3f} {azim:10.3f}")
            lines.append(f"{variant:<12} {score:<11} {unit:<8} " + "  ".join(cells))
    for name, key in (("chance (uniform grid peak)", "grid"), ("front (constant 0, 0)", "front")):
        cells = []
        for a in angles:
            great, azim = float(chance[f"{key}_great_{a}"].mean()), float(chance[f"{key}_azim_{a}"].mean())
            figures[f"{key}/great_{a}"], figures[f"{key}/azim_{a}"] = great, azim
            cells.append(f"{great:10.3f} {azim:10.3f}")
        lines.append(f"{name:<41}" + "  ".join(cells))
    sphere = ", ".join(f"{a} deg: {chance[f'sphere_great_{a}'].mean():.3f}" for a in angles)
    lines.append(f"uniform point on the sphere within the angle of a source (great-circle): {sphere}")
    lines.append("seconds per clip and turn: " + ", ".join(f"{v} {s:.2f}" for v, s in secs.items()))
    return lines, figures


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    peaks, chance, secs = measure(args)
    if args.csv:
        peaks.to_csv(args.csv, index=False)
    lines, figures = report_lines(peaks, chance, secs, args)
    save("spatial_locate", "Spatial: `avrepro locate` peak vs true sources", lines, figures)


if __name__ == "__main__":
    main()
