"""The binaural baselines (evaluated without a checkpoint of ours) and their dispatch by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from avrepro.data.cache import FeatureCache
from avrepro.tasks.base import Evaluation
from avrepro.tasks.binaural.evaluate import score_clips
from avrepro.tasks.binaural.names import BASELINES


def mono_mono(binaural: np.ndarray) -> np.ndarray:
    """The mixture's half in both ears: ``(2, T)`` from the reference pair ``(2, T)``."""
    mono = (binaural[0] + binaural[1]) / 2
    return np.stack([mono, mono])


METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"mono_mono": mono_mono}
"""Baseline name (one of ``names.BASELINES``) -> its prediction of a clip from the reference pair."""


def evaluate_baseline(name: str, cfg: dict, test: FeatureCache, progress: bool = True) -> Evaluation:
    """The baseline ``name`` on the test split, scored like a trained model."""
    if name not in BASELINES:
        raise ValueError(f"unknown binaural baseline '{name}' (known: {', '.join(BASELINES)})")
    method = METHODS[name]
    return score_clips(cfg, test, name, lambda i, true: {"audio": method(true)}, progress)
