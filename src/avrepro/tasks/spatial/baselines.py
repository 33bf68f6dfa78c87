"""Baselines of the spatial task, evaluated without a checkpoint of ours.

- ``chance``: the expected accuracy of guessing (0.5 for AVC/AVSA-Bin, one of the clip's
  instruments for the probe, the most frequent training class for the 8-way probe, a uniformly
  random viewpoint for the alignment).
- ``random_backbone``: randomly initialised trunks (objective ``avc``, seeded by ``eval.seed``)
  evaluated the same way as a trained model, heads and probe trained the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from avrepro.data.cache import FeatureCache
from avrepro.metrics.summary import summarize
from avrepro.tasks.base import Evaluation
from avrepro.tasks.spatial.downstream import class_names, view360_meta_sources
from avrepro.tasks.spatial.evaluate import evaluate_model, require_train
from avrepro.tasks.spatial.model import SpatialModel
from avrepro.tasks.spatial.names import BASELINES, METRIC_KEYS

ModelBuilder = Callable[[dict, str], SpatialModel]
"""``(cfg, objective) -> model``: how the task builds a model of one objective."""


def run_baseline(
    name: str,
    cfg: dict,
    test: FeatureCache,
    *,
    train: FeatureCache | None,
    progress: bool,
    build: ModelBuilder,
) -> Evaluation:
    """The baseline ``name`` on ``test`` (``train``: the split heads and probe are fitted on)."""
    train = require_train(train)
    if name == "chance":
        return chance(cfg, test, train)
    if name == "random_backbone":
        return random_backbone(cfg, test, train, progress, build)
    raise ValueError(f"unknown spatial baseline '{name}' (known: {', '.join(BASELINES)})")


def random_backbone(
    cfg: dict, test: FeatureCache, train: FeatureCache, progress: bool, build: ModelBuilder
) -> Evaluation:
    """Untrained AVC trunks (seeded by ``eval.seed``) evaluated like a trained model."""
    torch.manual_seed(int(cfg["eval"]["seed"]))
    model = build(cfg, "avc")
    return evaluate_model(model, cfg, test, train=train, progress=progress, objective="none (random init)")


def chance(cfg: dict, test: FeatureCache, train: FeatureCache) -> Evaluation:
    """Expected accuracy of guessing: 0.5 for the binary tasks, one of the clip's instruments
    for the probe (the most frequent training class for the 8-way probe), a uniformly random
    viewpoint for the alignment."""
    names = class_names(train, test)
    counts = np.bincount(
        [int(s["class_index"]) for i in range(len(train)) for s in view360_meta_sources(train.meta(i))],
        minlength=len(names),
    )
    majority = int(np.argmax(counts)) if counts.sum() else None  # None: no instruments known
    m = int(cfg["eval"]["alignment"]["viewpoints"])
    d = np.arange(m)
    rand_err = float(np.mean(np.minimum(d, m - d) * 360.0 / m))
    rows = []
    for i in range(len(test)):
        labels = [int(s["class_index"]) for s in view360_meta_sources(test.meta(i))]
        rows.append(
            {
                "clip_id": test.clip_ids[i],
                "avc_accuracy": 0.5,
                "avsa_accuracy": 0.5,
                **_chance_probe(labels, majority),
                "alignment_top1": 1.0 / m,
                "alignment_error": rand_err,
                "n_sources": len(labels),
            }
        )
    summary = summarize(rows, METRIC_KEYS)
    probe = (
        f"one of the clip's instruments at random for the probe, the most frequent training class "
        f"({names[majority]}) for the 8-way probe, "
        if majority is not None
        else ""
    )
    summary["note"] = f"expected accuracy of guessing: 0.5 for AVC/AVSA-Bin, {probe}1/{m} for the alignment"
    return summary, rows, {}


def _chance_probe(labels: list[int], majority: int | None) -> dict:
    """The probe's chance levels for a clip of instruments ``labels`` (NaN without instruments)."""
    if not labels or majority is None:
        return {"probe_accuracy": math.nan, "probe_class_accuracy": math.nan}
    return {
        "probe_accuracy": 1.0 / len(set(labels)),
        "probe_class_accuracy": float(np.mean([c == majority for c in labels])),
    }
