"""Data path: binaural training examples (a 0.63 s window + its frame) read from the feature cache
versus decoded from the clips' mp4 + wav, the same examples in one run; prints the ratio.

    python benchmarks/data_path.py --tree /path/to/complete/tree [--examples 64]

The decode path reuses the training dataset class on a stand-in for the cache that decodes each
clip's wav (resampled to the cache rate, int16) and mp4 (every frame, resized) on every access,
i.e. what reading a dataset without the cache costs; both paths must give identical examples.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, require, save, tree_cache, tree_paths  # noqa: E402
from avrepro.config import load_params  # noqa: E402
from avrepro.data.cache import FeatureCache, load_audio, to_int16  # noqa: E402
from avrepro.data.verify import read_manifest  # noqa: E402
from avrepro.media import read_mp4_frames  # noqa: E402
from avrepro.tasks.binaural.data import BinauralWindows  # noqa: E402


class DecodedClips:
    """The FeatureCache interface the dataset uses, decoding from the raw files on every read."""

    def __init__(self, cache: FeatureCache, manifest: Path):
        rows = read_manifest(manifest).set_index("clip_id")
        raw = cache.raw_dir
        self.cache, self.clip_ids = cache, cache.clip_ids
        self.files = [(raw / rows.loc[c, "audio"], raw / rows.loc[c, "video"]) for c in self.clip_ids]
        self.sample_rate, self.fps, self.frame_size = cache.sample_rate, cache.fps, cache.frame_size

    def __len__(self):
        return len(self.clip_ids)

    def info(self, i):
        return self.cache.info(i)

    def audio(self, i):
        return to_int16(load_audio(self.files[i][0], self.sample_rate))

    def frames(self, i):
        return read_mp4_frames(self.files[i][1], size=self.frame_size)[0]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", type=Path, default=Path("."), help="a complete output tree")
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--examples", type=int, default=128)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # one loader process's view
    paths = tree_paths(args.tree, args.dataset)
    cache = tree_cache(args.tree, paths["cache"] / "train/binaural", "training feature cache")
    cfg = load_params(require(paths["params"], "params.yaml"))["binaural"]  # the tree's profile
    decoded = DecodedClips(cache, require(paths["manifest"], "manifest"))
    n = min(args.examples, len(cache))
    # one window per clip, clips 0..n-1: every example touches a different clip
    from_cache = BinauralWindows(cache, cfg, seed=0, windows_per_clip=1, train=True)
    from_mp4 = BinauralWindows(decoded, cfg, seed=0, windows_per_clip=1, train=True)
    # one untimed pass over the same examples first: both paths then read from the page cache,
    # so the figure compares the work per example, not the disk's first-touch latency
    for i in range(n):
        from_cache[i], from_mp4[i]
    with Timer() as t_cache:
        a = [from_cache[i] for i in range(n)]
    with Timer() as t_mp4:
        b = [from_mp4[i] for i in range(n)]
    same = all(
        torch.equal(x["audio"], y["audio"]) and torch.equal(x["frame"], y["frame"])
        for x, y in zip(a, b, strict=True)
    )
    if not same:
        raise SystemExit(
            "the two paths gave different examples: the benchmark is not comparing like with like"
        )
    c_rate, m_rate = n / t_cache.seconds, n / t_mp4.seconds
    w, h = cache.frame_size
    lines = [
        f"{n} training examples (0.63 s window + frame with its crop and jitter), one per clip, "
        f"from {paths['cache']}, after one untimed pass of each path",
        f"  cache ({w}x{h} frames, int16 audio, memory-mapped): {t_cache.seconds:8.3f} s  "
        f"{c_rate:9.1f} examples/s",
        f"  decode mp4 + wav:                            {t_mp4.seconds:8.3f} s  {m_rate:9.1f} examples/s",
        f"  ratio cache / decode: {c_rate / m_rate:.1f}x (identical examples: {same})",
    ]
    figures = {
        "examples": n,
        "cache_examples_per_s": c_rate,
        "decode_examples_per_s": m_rate,
        "ratio": c_rate / m_rate,
    }
    save("data_path", "Data path: feature cache vs decoding mp4", lines, figures)
    return figures


if __name__ == "__main__":
    main()
