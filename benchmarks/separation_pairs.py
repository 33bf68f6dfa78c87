"""Where does Sound of Pixels lose to blind NMF, and is it the frame net? (issue 17)

    python benchmarks/separation_pairs.py --tree PATH [--variant binary] [--against nmf]
    python benchmarks/separation_pairs.py --tree PATH --colour-frames NEW_TREE

The first form reads the tree's per-mixture scores (``reports/metrics/separation_<name>_clips.csv``)
and gives the SDR of the variant and of the baseline per class pair, worst first; then the trained
frame net's video vector of every clip's centre frame (train and test splits): the cosine
similarity of the class centroids (train clips) and how often the nearest centroid names a test
clip's class; and the cosine similarity of the classes' mean log power spectra.

The second form writes a copy of the tree (files hard-linked, the separation caches' frames
rewritten) in which every clip's frames are one solid colour per class: a frame net that tells the
classes apart perfectly. Retraining there (the command is printed) tells how much of the gap to
NMF the frame net accounts for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_tree_argument, require, save  # noqa: E402
from avrepro.engine.evaluate import load_model  # noqa: E402
from avrepro.engine.runtime import seed_everything  # noqa: E402
from avrepro.tasks import get_task  # noqa: E402
from avrepro.tasks.separation import spectral  # noqa: E402
from avrepro.tasks.separation.data import clip_classes, eval_frames, frame_indices  # noqa: E402
from avrepro.video.crop import crop_hw  # noqa: E402
from separation_budget import load_tree  # noqa: E402

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180)]
PALETTE += [(70, 240, 240), (240, 50, 230), (128, 128, 0), (0, 0, 128), (170, 110, 40), (255, 255, 255)]
"""Solid colours of ``--colour-frames``, one per class (classes in sorted order)."""


def pair_table(metrics: Path, variant: str, against: str) -> pd.DataFrame:
    """Mean SDR of ``variant`` and ``against`` per class pair (the same mixtures), worst first."""
    a = pd.read_csv(require(metrics / f"separation_{variant}_clips.csv", "the variant's scores"))
    b = pd.read_csv(require(metrics / f"separation_{against}_clips.csv", "the baseline's scores"))
    both = a.merge(b[["clips", "sdr"]], on="clips", suffixes=("", "_against"))
    both["pair"] = both["classes"].map(lambda c: " + ".join(sorted(c.split("+"))))
    both["difference"] = both["sdr"] - both["sdr_against"]
    table = both.groupby("pair").agg(
        mixtures=("sdr", "size"),
        sdr=("sdr", "mean"),
        against=("sdr_against", "mean"),
        difference=("difference", "mean"),
    )
    return table.sort_values("difference")


@torch.no_grad()
def video_vectors(model, cache, crop: tuple[int, int]) -> np.ndarray:
    """The pooled video vector ``(n, K)`` of every clip's centre frame, as the evaluation sees it."""
    out = []
    for i in range(len(cache)):
        frames = cache.frames(i)
        centre = cache.info(i)["n_samples"] / 2 / cache.sample_rate
        idx = frame_indices(centre, cache.fps, len(frames), 1, 0.0)
        out.append(model.video_vectors(model.frame_maps(eval_frames(frames[idx], crop)[None, None]))[0, 0])
    return torch.stack(out).numpy()


def vector_figures(tree: Path, variant: str, threads: int) -> dict:
    """Class-centroid cosine similarities (train clips) and nearest-centroid accuracy (test clips)."""
    cfg, (train, _, test) = load_tree(tree, [])
    seed_everything(0, threads)
    checkpoint = require(tree / f"models/separation/{variant}/best.pt", "the trained model")
    model = load_model(get_task("separation"), cfg, variant, checkpoint, torch.device("cpu")).eval()
    crop = crop_hw(cfg["frames"])
    train_vec, train_cls = video_vectors(model, train, crop), clip_classes(train)
    test_vec, test_cls = video_vectors(model, test, crop), clip_classes(test)
    classes = sorted({c for c in train_cls if c})
    centroids = np.stack([train_vec[[c == k for c in train_cls]].mean(0) for k in classes])
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    nearest = [classes[int(np.argmin(((centroids - v) ** 2).sum(1)))] for v in test_vec]
    scored = [(p, c) for p, c in zip(nearest, test_cls, strict=True) if c]
    return {
        "classes": classes,
        "cosine": (unit @ unit.T).round(3).tolist(),
        "spectra_cosine": spectra_similarity(train, classes),
        "nearest_centroid_accuracy": float(np.mean([p == c for p, c in scored])),
        "test_clips": len(scored),
    }


def spectra_similarity(cache, classes: list[str]) -> list[list[float]]:
    """Cosine similarity of the classes' mean log power spectra (1024-point STFT of every clip,
    power averaged over time, log10, the mean over bins removed), ``classes`` order."""
    stft = {"n_fft": 1024, "hop": 256}
    spectra: dict[str, list[np.ndarray]] = {}
    for i, c in enumerate(clip_classes(cache)):
        power = spectral.spec(torch.from_numpy(cache.audio_float(i)[0]), stft).abs().pow(2).mean(1)
        spectra.setdefault(c, []).append(np.log10(power.numpy() + 1e-10))
    mean = np.stack([np.mean(spectra[c], axis=0) for c in classes])
    mean -= mean.mean(axis=1, keepdims=True)
    unit = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    return (unit @ unit.T).round(3).tolist()


def colour_frames(tree: Path, out: Path) -> list[str]:
    """Copy ``tree`` to ``out`` (hard links) and paint each separation cache clip's frames one
    solid colour per class; the class of each colour."""
    require(tree / "params.yaml", "the tree's params")
    if out.exists():
        raise SystemExit(f"{out}: exists; give a new folder")
    shutil.copytree(tree, out, symlinks=True, copy_function=os.link)
    cfg, caches = load_tree(out, [])
    classes = sorted({c for cache in caches for c in clip_classes(cache) if c})
    if len(classes) > len(PALETTE):
        raise SystemExit(f"{len(classes)} classes, {len(PALETTE)} colours")
    for cache in caches:
        for shard in sorted(cache.cache_dir.glob("frames_*.npy")):
            frames = np.load(shard)
            for i, c in enumerate(clip_classes(cache)):
                info = cache.info(i)
                if c and shard.name.endswith(f"{info['shard']:05d}.npy"):
                    frames[info["row"], : info["n_frames"]] = PALETTE[classes.index(c)]
            shard.unlink()  # a hard link: the original tree keeps its frames
            np.save(shard, frames)
    return [f"{c}: rgb{PALETTE[k]}" for k, c in enumerate(classes)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_tree_argument(ap, "an output tree of the pipeline (its params.yaml, caches, models and metrics)")
    ap.add_argument("--variant", default="binary", help="the trained variant (default: binary)")
    ap.add_argument("--against", default="nmf", help="the baseline compared per pair (default: nmf)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    ap.add_argument("--colour-frames", type=Path, metavar="NEW_TREE", help="write the colour-frame copy here")
    args = ap.parse_args(argv)
    if args.colour_frames:
        legend = colour_frames(args.tree, args.colour_frames)
        print("\n".join(legend))
        print(
            f"then: cd {args.colour_frames} && snakemake --cores 2 --workflow-profile "
            "workflow/profiles/default --config 'tasks=[separation]'"
        )
        return {"colours": legend}
    table = pair_table(args.tree / "reports/metrics", args.variant, args.against)
    vectors = vector_figures(args.tree, args.variant, args.threads)
    lines = [
        f"{args.tree}: `{args.variant}` against `{args.against}` per class pair (SDR dB, mean over mixtures)",
        table.round(2).to_string(),
        f"nearest class centroid of the video vectors: {vectors['nearest_centroid_accuracy']:.3f} "
        f"of {vectors['test_clips']} test clips",
        "cosine similarity of the class centroids (" + ", ".join(vectors["classes"]) + "):",
        *("  " + " ".join(f"{v:5.2f}" for v in row) for row in vectors["cosine"]),
        "cosine similarity of the classes' mean log power spectra (train clips, same order):",
        *("  " + " ".join(f"{v:5.2f}" for v in row) for row in vectors["spectra_cosine"]),
    ]
    figures = {"pairs": table.round(3).reset_index().to_dict(orient="records"), **vectors}
    save("separation_pairs", "Sound of Pixels against blind NMF per class pair", lines, figures)
    return figures


if __name__ == "__main__":
    main()
