"""`avrepro separate` on one video with two players: does each region's wav hold its player's sound?

    python benchmarks/separation_regions.py --tree PATH [--model DIR] [--pairs 8] [--threads 2] \
        [--out DIR]

For pairs of test clips of different classes of the tree's `separation` dataset (solo clips), a
two-player video is built: each clip's frames cut to a half-width window around its player (the
player's box in the clip's meta, so the scale is the training scale) and put side by side, left =
the first clip, right = the second; its sound is the two clips' sounds mixed, each / 2 (as the
evaluation mixes them; given to the verb as a wav, no AAC loss). The verb runs on it four times:
the regions `0,0,0.5,1;0.5,0,0.5,1` (left half, right half) and `--regions auto --max-sources 2`
(regions ordered left to right), each with the default region features (the frames blanked
outside the region) and with `--region-features pooled`; each region's wav is scored with BSS Eval
against the true sound of the player on its side (SDR, SIR, SAR in dB, mir_eval as the evaluation).
References for the same pairs: `pair` = the verb's two-video form (mix and separate, each clip
with its own whole frame, as the evaluation), `mixture` = the mixture as the estimate of both.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, require, save, tree_cache  # noqa: E402
from avrepro.cli import main as avrepro  # noqa: E402
from avrepro.data.cache import load_audio, to_int16  # noqa: E402
from avrepro.data.media_clips import split_clips  # noqa: E402
from avrepro.engine.infer import best_variant  # noqa: E402
from avrepro.media import read_mp4_frames, read_wav, write_mp4, write_wav  # noqa: E402
from avrepro.tasks import get_task  # noqa: E402
from avrepro.tasks.separation.data import clip_class  # noqa: E402
from avrepro.tasks.separation.infer import clip_scores  # noqa: E402

HALVES = "0,0,0.5,1;0.5,0,0.5,1"
METHODS = {
    "halves": ["--regions", HALVES],
    "auto": ["--max-sources", "2"],
    "halves_pooled": ["--regions", HALVES, "--region-features", "pooled"],
    "auto_pooled": ["--max-sources", "2", "--region-features", "pooled"],
}
"""The one-video runs: fixed halves or auto regions, each with the verb's default region features
(``masked``: the frames with all outside the region blanked) and with ``pooled`` (the frame's
features pooled over the region)."""


def test_pairs(clips: list[dict], count: int, seed: int = 0) -> list[tuple[dict, dict]]:
    """``count`` seeded pairs of test clips of different classes (first: left, second: right)."""
    classes = [clip_class(c["meta"]) for c in clips]
    candidates = [
        (a, b) for a in range(len(clips)) for b in range(len(clips)) if a != b and classes[a] != classes[b]
    ]
    picked = np.random.default_rng([seed, 16]).choice(
        len(candidates), min(count, len(candidates)), replace=False
    )
    return [(clips[candidates[i][0]], clips[candidates[i][1]]) for i in picked]


def player_half(clip: dict) -> np.ndarray:
    """The clip's frames cut to a half-width window centred on its player (median box centre)."""
    frames, _ = read_mp4_frames(clip["video"])
    w = frames.shape[2]
    boxes = np.asarray(clip["meta"]["sources"][0]["boxes"], dtype=float)
    scale = w / clip["meta"]["frame_size"][0]
    centre = float(np.median((boxes[:, 0] + boxes[:, 2]) / 2)) * scale
    left = int(np.clip(round(centre - w / 4), 0, w - w // 2))
    return frames[:, :, left : left + w // 2]


def duet(a: dict, b: dict, out: Path) -> tuple[Path, Path]:
    """The two-player video (left: ``a``, right: ``b``) and its mixed sound (wav)."""
    fa, fb = player_half(a), player_half(b)
    t = min(len(fa), len(fb))
    (sa, rate), (sb, _) = read_wav(a["audio"]), read_wav(b["audio"])
    n = min(sa.shape[1], sb.shape[1])
    out.mkdir(parents=True, exist_ok=True)
    write_mp4(out / "duet.mp4", np.concatenate([fa[:t], fb[:t]], axis=2), int(a["meta"]["fps"]))
    write_wav(out / "duet.wav", (sa[:, :n] + sb[:, :n]) / 2, rate, subtype="FLOAT")
    return out / "duet.mp4", out / "duet.wav"


def verb(*args, common: list[str]) -> dict:
    """``avrepro separate ARGS`` in this process; its JSON summary."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = avrepro(["separate", *map(str, args), *common])
    if rc:
        raise SystemExit(f"avrepro separate {' '.join(map(str, args))}: failed ({rc})")
    return json.loads(stdout.getvalue())


def truth(a: dict, b: dict, rate: int, n: int) -> np.ndarray:
    """``(2, n)`` the players' sounds as the verb reads them (cache quantisation), each / 2."""
    return np.stack(
        [to_int16(load_audio(c["audio"], rate))[0, :n].astype(np.float32) / 32767.0 / 2 for c in (a, b)]
    )


def pair_rows(a: dict, b: dict, common: list[str], rate: int, out: Path) -> list[dict]:
    """Rows (method, per-player SDR/SIR/SAR, regions found) of one pair."""
    video, sound = duet(a, b, out)
    rows = []
    for method, extra in METHODS.items():
        got = verb(video, "--audio", sound, "-o", out / method, *extra, common=common)
        wavs = [read_wav(r["wav"])[0][0] for r in got["regions"]]
        n = min(len(w) for w in wavs)
        ref = truth(a, b, rate, n)
        est = np.stack([wavs[0][:n], wavs[-1][:n]])  # left region -> a, right region -> b
        rows.append({"method": method, "regions": len(wavs), **_flat(clip_scores(ref, est, ref.sum(0)))})
    got = verb(a["video"], b["video"], "--audio", a["audio"], b["audio"], "-o", out / "pair", common=common)
    rows.append(
        {
            "method": "pair",
            "regions": 2,
            **{f"{k}_{n}": s[k] for n, s in enumerate(got["sources"]) for k in ("sdr", "sir", "sar")},
            "sdr_mixture": got["sdr_mixture"],
        }
    )
    return [{"pair": f"{a['clip_id']}+{b['clip_id']}", **r} for r in rows]


def _flat(scores: dict) -> dict:
    out = {f"{k}_{n}": scores[k][n] for n in range(2) for k in ("sdr", "sir", "sar")}
    return {**out, "sdr_mixture": scores["sdr_mixture"]}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", type=Path, required=True, help="an output tree of the pipeline")
    ap.add_argument("--model", type=Path, default=None, help="default: the tree's best separation variant")
    ap.add_argument("--pairs", type=int, default=8, help="test pairs (default: 8)")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml", help="the models' params file")
    ap.add_argument("--profile", default="default", help="the profile the model was trained with")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--out", type=Path, default=Path("/tmp/separation_regions"), help="work folder")
    return ap.parse_args(argv)


def summary_lines(rows: list[dict], model: Path) -> tuple[list[str], dict]:
    """Mean per method over the pairs and players, and the figures stored."""
    lines = [f"model {model}; {len({r['pair'] for r in rows})} two-player test videos", ""]
    lines.append(f"{'method':13} {'regions':>7} {'SDR':>7} {'SIR':>7} {'SAR':>7} {'SDR mix':>8}  (dB, mean)")
    figures = {}
    for method in (*METHODS, "pair"):
        sel = [r for r in rows if r["method"] == method]
        mean = {
            k: float(np.nanmean([r[f"{k}_{n}"] for r in sel for n in (0, 1)])) for k in ("sdr", "sir", "sar")
        }
        mix = float(np.nanmean([r["sdr_mixture"] for r in sel]))
        two = float(np.mean([r["regions"] == 2 for r in sel]))
        lines.append(
            f"{method:13} {two:7.0%} {mean['sdr']:7.2f} {mean['sir']:7.2f} {mean['sar']:7.2f} {mix:8.2f}"
        )
        figures[method] = {**mean, "sdr_mixture": mix, "two_regions": two}
    lines += ["", "regions: share of videos where the verb found two regions (auto)."]
    lines += ["per pair (SDR left, right):"]
    lines += [f"  {r['pair']:48} {r['method']:13} {r['sdr_0']:6.2f} {r['sdr_1']:6.2f}" for r in rows]
    return lines, figures


def main(argv=None) -> None:
    from avrepro.config import load_params

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    task = get_task("separation")
    models = args.tree / "models"
    model = args.model or models / "separation" / best_variant(task, models, args.tree / "reports/metrics")
    section = load_params(args.params, {"profile": args.profile})["separation"]
    dataset, rate = section["dataset"], section["features"]["sample_rate"]
    test = tree_cache(args.tree, args.tree / f"data/cache/{dataset}/test/separation", "the test cache")
    clips = split_clips(
        require(args.tree / f"data/manifests/{dataset}.csv", "the manifest"),
        test.raw_dir,
        require(args.tree / f"data/splits/{dataset}/test.txt", "the test split"),
        10_000,
    )
    common = ["--model", str(model), "--params", str(args.params), "--profile", args.profile, "--no-progress"]
    rows = []
    for k, (a, b) in enumerate(test_pairs(clips, args.pairs)):
        rows += pair_rows(a, b, common, rate, args.out / f"pair{k}")
    lines, figures = summary_lines(rows, model)
    save("separation_regions", "separate: one wav per player of a two-player video", lines, figures)


if __name__ == "__main__":
    main()
