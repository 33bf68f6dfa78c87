"""Evaluation of a trained spatial model with frozen trunks (what ``SpatialTask.evaluate`` runs).

AVC-Bin and AVSA-Bin (heads trained on the training split, clip-level decisions on the test
split), the instrument probe (scored among the clip's own instruments and over all classes) and
the viewpoint-alignment map; the reusable pieces live in :mod:`.downstream`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from avrepro.data.cache import FeatureCache
from avrepro.metrics.summary import summarize
from avrepro.tasks.base import Evaluation
from avrepro.tasks.spatial.downstream import (
    alignment_matrices,
    alignment_scores,
    bin_embeddings,
    class_names,
    clip_decisions,
    has_scene_sources,
    probe_embeddings,
    ring_viewpoints,
    train_pair_classifier,
    train_probe,
    view360_meta_sources,
    within_clip_hits,
)
from avrepro.tasks.spatial.model import SpatialModel
from avrepro.tasks.spatial.names import METRIC_KEYS


def require_train(train: FeatureCache | None) -> FeatureCache:
    """The train cache that heads and probe are fitted on (error when it was not passed)."""
    if train is None:
        raise ValueError(
            "spatial evaluation fits its heads and probe on the training split: "
            "pass the train cache (spatial.eval.needs_train: true)"
        )
    return train


def evaluate_model(
    model: SpatialModel,
    cfg: dict,
    test: FeatureCache,
    *,
    train: FeatureCache | None,
    progress: bool = True,
    objective: str | None = None,
) -> Evaluation:
    """AVC-Bin, AVSA-Bin, probe and alignment of ``model`` on ``test``; heads and probe fit on
    ``train`` (the probe only on data with the 360 scene's instruments). ``objective`` is the
    summary's ``objective`` entry (default: the model's)."""
    train = require_train(train)
    model.eval()
    avc, avsa = bin_accuracies(model, cfg, test, train, progress)
    if has_scene_sources(train) and has_scene_sources(test):
        hit, hit_class, clips = probe_hits(model, cfg, test, train)
    else:  # no 360 scene's instruments to probe for (names.SIMULATOR_NEEDS): the probe rows stay NaN
        hit, hit_class, clips = np.zeros(0), np.zeros(0), torch.zeros(0, dtype=torch.long)
    acfg = cfg["eval"]["alignment"]
    m, fov = int(acfg["viewpoints"]), float(acfg["fov_deg"])
    sims = alignment_matrices(model, test, cfg, m, fov)
    rows = clip_rows(test, avc, avsa, hit, hit_class, clips, sims)
    predictions = alignment_predictions(test, sims, m, fov, int(cfg["eval"]["save_predictions"]))
    use_tf = bool(cfg["eval"]["use_transformer"])
    summary = summarize(rows, METRIC_KEYS)
    summary["objective"] = objective or model.objective
    summary["video_side"] = (
        "transformer audio prediction" if use_tf and model.has_transformer else "video embedding"
    )
    return summary, rows, predictions


def bin_accuracies(
    model: SpatialModel, cfg: dict, test: FeatureCache, train: FeatureCache, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per test clip, the AVC-Bin and AVSA-Bin accuracies of heads trained on ``train``."""
    ecfg = cfg["eval"]
    seed, use_tf = int(ecfg["seed"]), bool(ecfg["use_transformer"])
    emb_tr = bin_embeddings(model, train, cfg, seed, "train", int(ecfg["train_repeats"]), use_tf, progress)
    emb_te = bin_embeddings(model, test, cfg, seed, "test", int(ecfg["repeats"]), use_tf, progress)
    hcfg = ecfg["head"]
    avc_head = train_pair_classifier(emb_tr["video"], emb_tr["aligned"], emb_tr["other"], hcfg, seed)
    avsa_head = train_pair_classifier(emb_tr["video"], emb_tr["aligned"], emb_tr["yawed"], hcfg, seed + 1)
    avc = clip_decisions(avc_head, emb_te["video"], emb_te["aligned"], emb_te["other"])
    avsa = clip_decisions(avsa_head, emb_te["video"], emb_te["aligned"], emb_te["yawed"])
    return avc, avsa


def probe_hits(
    model: SpatialModel, cfg: dict, test: FeatureCache, train: FeatureCache
) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """The probe trained on ``train``, per test row: right among the clip's own instruments,
    right over all classes, and the row's clip index."""
    seed, pcfg = int(cfg["eval"]["seed"]), cfg["eval"]["probe"]
    n_classes = len(class_names(train, test))
    x_tr, y_tr, _ = probe_embeddings(model, train, cfg, seed, "train", int(pcfg["train_windows"]))
    x_te, y_te, c_te = probe_embeddings(model, test, cfg, seed, "test", int(pcfg["test_windows"]))
    probe = train_probe(x_tr, y_tr, n_classes, pcfg, seed)
    with torch.no_grad():
        scores = probe(x_te)
    hit_class = (scores.argmax(1) == y_te).float().numpy()
    return within_clip_hits(scores, y_te, c_te), hit_class, c_te


def clip_rows(
    test: FeatureCache,
    avc: np.ndarray,
    avsa: np.ndarray,
    hit: np.ndarray,
    hit_class: np.ndarray,
    clips: torch.Tensor,
    sims: np.ndarray,
) -> list[dict]:
    """One metric row per test clip (probe scores averaged over the clip's rows)."""
    rows = []
    for i in range(len(test)):
        top1, err = alignment_scores(sims[i])
        sel = (clips == i).numpy()
        rows.append(
            {
                "clip_id": test.clip_ids[i],
                "avc_accuracy": float(avc[i]),
                "avsa_accuracy": float(avsa[i]),
                "probe_accuracy": float(hit[sel].mean()) if sel.any() else math.nan,
                "probe_class_accuracy": float(hit_class[sel].mean()) if sel.any() else math.nan,
                "alignment_top1": top1,
                "alignment_error": err,
                "n_sources": int(sel.sum()),
            }
        )
    return rows


def alignment_predictions(test: FeatureCache, sims: np.ndarray, m: int, fov: float, keep: int) -> dict:
    """The alignment matrices (``.npy``) and their descriptions (``.json``) of the first ``keep``
    test clips."""
    predictions = {}
    for i in range(min(keep, len(test))):
        cid = test.clip_ids[i]
        predictions[f"alignment_{cid}.npy"] = sims[i].astype(np.float32)
        predictions[f"alignment_{cid}.json"] = alignment_meta(test, i, m, fov)
    return predictions


def alignment_meta(test: FeatureCache, i: int, m: int, fov: float) -> dict:
    """What the rows and columns of clip ``i``'s alignment matrix are, and where its sources are."""
    return {
        "clip_id": test.clip_ids[i],
        "yaw_deg": [vp.yaw_deg for vp in ring_viewpoints(m, fov)],
        "fov_deg": fov,
        "rows": "video viewpoint",
        "columns": "audio rotated toward viewpoint",
        "sources": [
            {
                "class": s["class"],
                "azimuth_deg": s["azimuth_deg"],
                "elevation_deg": s["elevation_deg"],
                "in_pinhole_view": s["in_pinhole_view"],
            }
            for s in view360_meta_sources(test.meta(i))
        ],
    }
