"""Evaluation of the sync task: a fixed, seeded set of window pairs per test clip, each used both
ways (video of window A with audio A and B, video of B with audio B and A), so that every test
audio window is once aligned and once shifted and no audio-only cue can score above chance.

It reports accuracy with a 95 % confidence interval over clips, accuracy by shift size, and the
class-activation map of the aligned track against the true source boxes (CAM mass in the boxes,
pointing game, the boxes' share of the frame as chance). What scores the examples is a
:class:`Scorer`: a trained net (:class:`ModelScorer`) or a baseline (:mod:`.baselines`).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from avrepro.data.cache import FeatureCache
from avrepro.metrics.summary import summarize, t_interval
from avrepro.tasks.base import Evaluation
from avrepro.tasks.sync.cam import heatmap, localization, upsample, window_boxes
from avrepro.tasks.sync.data import eval_pairs, geometry, make_example
from avrepro.tasks.sync.model import SyncNet
from avrepro.tasks.sync.names import LOC_KEYS, METRIC_KEYS


class Scorer(Protocol):
    """What scores a clip's examples and draws the heat maps scored against the boxes."""

    def scores(self, examples: list[dict], batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits ``(E, 2)`` (float64; aligned, shifted track) and CAMs ``(E, 2, T, h, w)`` or None."""

    def maps(self, cams: np.ndarray | None, e: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Example ``e``'s heat map and contrast map at ``size`` = (H, W)."""


class ModelScorer:
    """A trained :class:`SyncNet`: its logits, and its CAMs as heat maps."""

    def __init__(self, model: SyncNet):
        self.model = model

    @torch.no_grad()
    def scores(self, examples: list[dict], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        device = next(self.model.parameters()).device
        logits, cams = [], []
        for b in range(0, len(examples), batch_size):
            chunk = examples[b : b + batch_size]
            frames = torch.stack([e["frames"] for e in chunk]).to(device)
            audio = torch.stack([e["audio"] for e in chunk]).to(device)
            lg, cam = self.model(frames, audio, cam=True)
            logits.append(lg.float().cpu().numpy())
            cams.append(cam.float().cpu().numpy())
        return np.concatenate(logits).astype(np.float64), np.concatenate(cams)

    def maps(self, cams: np.ndarray, e: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """|CAM| of the aligned track, and the contrast |CAM(aligned) - CAM(shifted)|."""
        return upsample(heatmap(cams[e, 0]), size), upsample(heatmap(cams[e, 0] - cams[e, 1]), size)


def evaluate_model(
    model: SyncNet, cfg: dict, test: FeatureCache, name: str, progress: bool = True
) -> Evaluation:
    """Evaluate the trained variant ``model`` on the test split."""
    model.eval()
    return evaluate_with(ModelScorer(model), cfg, test, name, progress)


def evaluate_with(
    scorer: Scorer, cfg: dict, test: FeatureCache, name: str, progress: bool = True
) -> Evaluation:
    """Score every test clip with ``scorer``: the summary, the per-clip rows and the predictions
    (``examples.json``, ``accuracy_by_shift.json``; with CAMs also ``cam_<clip>.npy`` of the best
    and worst clip and their index ``cams.json``)."""
    ecfg, scfg = cfg["eval"], cfg["sample"]
    rows, records, kept = [], [], {}
    for i in tqdm(range(len(test)), desc=f"evaluate sync {name}", disable=not progress):
        row, clip_records, first = evaluate_clip(scorer, test, i, scfg, ecfg)
        rows.append(row)
        records += clip_records
        if first is not None:
            kept[test.clip_ids[i]] = first
    predictions = {"examples.json": records, "accuracy_by_shift.json": accuracy_by_shift(records)}
    if kept:
        predictions.update(cam_predictions(kept, rows, test, scfg))
    return summary_of(rows, records), rows, predictions


def evaluate_clip(
    scorer: Scorer, test: FeatureCache, i: int, scfg: dict, ecfg: dict
) -> tuple[dict, list[dict], tuple | None]:
    """Clip ``i``: its row of per-clip scores, one record per example, and (with CAMs) its first
    window's ``(video start, CAMs (2, T, h, w) float32, localization scores)``."""
    geo = geometry(scfg, test, i)
    pairs = eval_pairs(test, i, scfg, ecfg["pairs_per_clip"], ecfg["seed"])
    examples = [make_example(test, i, scfg, geo, p) for p in pairs]
    logits, cams = scorer.scores(examples, ecfg["batch_size"])
    meta = test.meta(i) or {}
    loc = [
        window_localization(scorer, cams, e, meta, v, geo.frames, test.frame_size)
        for e, (v, _) in enumerate(pairs)
    ]
    records = [
        {
            "clip_id": test.clip_ids[i],
            "video_start": v,
            "shift_s": (o - v) / test.fps,
            "logit_aligned": float(logits[e, 0]),
            "logit_shifted": float(logits[e, 1]),
        }
        for e, (v, o) in enumerate(pairs)
    ]
    row = clip_row(test.clip_ids[i], meta, logits, loc)
    first = (pairs[0][0], cams[0].astype(np.float32), loc[0]) if cams is not None else None
    return row, records, first


def window_localization(
    scorer: Scorer,
    cams: np.ndarray | None,
    e: int,
    meta: dict,
    start: int,
    n_frames: int,
    frame_size: tuple[int, int],
) -> dict:
    """Localization scores of example ``e`` (a window of ``n_frames`` from ``start``): its heat
    map and its contrast map against the window's true boxes (NaN without boxes)."""
    w, h = frame_size
    boxes = window_boxes(meta, start, n_frames, (w, h)) if meta else []
    heat, contrast = scorer.maps(cams, e, (h, w))
    scores = localization(heat, boxes)
    extra = localization(contrast, boxes)
    scores.update(
        {
            "contrast_mass_in_box": extra["map_mass_in_box"],
            "contrast_pointing_accuracy": extra["pointing_accuracy"],
        }
    )
    return scores


def clip_row(clip_id: str, meta: dict, logits: np.ndarray, loc: list[dict]) -> dict:
    """One clip's scores: both decisions of every example (aligned track <= 0, shifted > 0), the
    pair ranking, the mean margin, and the localization scores averaged over its windows."""
    correct = np.stack([logits[:, 0] <= 0, logits[:, 1] > 0], axis=1)
    row = {
        "clip_id": clip_id,
        "n_sources": len(meta.get("sources", [])),
        "n_pairs": len(logits),
        "accuracy": float(correct.mean()),
        "pair_accuracy": float(np.mean(logits[:, 1] > logits[:, 0])),
        "accuracy_aligned": float(correct[:, 0].mean()),
        "accuracy_shifted": float(correct[:, 1].mean()),
        "margin": float(np.mean(logits[:, 1] - logits[:, 0])),
    }
    for key in LOC_KEYS:
        row[key] = (
            float(np.nanmean([s[key] for s in loc]))
            if any(math.isfinite(s[key]) for s in loc)
            else float("nan")
        )
    return row


def summary_of(rows: list[dict], records: list[dict]) -> dict:
    """Mean, std, SEM over clips of :data:`METRIC_KEYS`, the accuracy's 95 % CI, ``n_examples``
    (two decisions per record)."""
    summary = summarize(rows, METRIC_KEYS)
    summary.update(t_interval(summary, "accuracy", len(rows)))
    summary["n_examples"] = 2 * len(records)
    return summary


def accuracy_by_shift(records: list[dict]) -> dict:
    """Accuracy per shift magnitude from per-example records (one row per |shift| in seconds):
    both decisions of a pair, the shifted track's alone, and the pair ranking."""
    pairs: dict[float, list[dict]] = {}
    for r in records:
        pairs.setdefault(round(abs(r["shift_s"]), 3), []).append(r)
    rows = []
    for shift in sorted(pairs):
        rs = pairs[shift]
        rows.append(
            {
                "shift_s": shift,
                "n_pairs": len(rs),
                "accuracy": float(
                    np.mean([(r["logit_aligned"] <= 0) + (r["logit_shifted"] > 0) for r in rs]) / 2
                ),
                "accuracy_shifted": float(np.mean([r["logit_shifted"] > 0 for r in rs])),
                "pair_accuracy": float(np.mean([r["logit_shifted"] > r["logit_aligned"] for r in rs])),
            }
        )
    return {"rows": rows}


def cam_predictions(kept: dict[str, tuple], rows: list[dict], test: FeatureCache, scfg: dict) -> dict:
    """The CAMs of the best and the worst test clip (by accuracy, then margin), first window:
    ``cam_<clip>.npy`` (2, T, h, w) with the aligned and the shifted track, and ``cams.json``
    (role -> clip, file, window and scores) for the figures."""
    order = sorted(range(len(rows)), key=lambda r: (rows[r]["accuracy"], rows[r]["margin"]))
    chosen = {"best": rows[order[-1]]["clip_id"], "worst": rows[order[0]]["clip_id"]}
    predictions, index = {}, {}
    for role, clip in chosen.items():
        start, cam, shown = kept[clip]  # the clip's first test window
        pos = test.position(clip)
        geo, row = geometry(scfg, test, pos), rows[pos]
        predictions[f"cam_{clip}.npy"] = cam
        index[role] = {
            "clip_id": clip,
            "file": f"cam_{clip}.npy",
            "video_start": int(start),
            "frames": geo.frames,
            "audio_start": int(round(start * geo.samples_per_frame)),
            "audio_samples": geo.samples,
            "accuracy": row["accuracy"],
            **{k: shown[k] for k in ("map_mass_in_box", "contrast_mass_in_box") if math.isfinite(shown[k])},
        }
    predictions["cams.json"] = index
    return predictions
