"""The sync task's baselines and their dispatch by name (:data:`~.names.BASELINES`).

``chance``: random guesses (standard-normal logits) and a random heat map, scored by the same
evaluation as the trained variants (:func:`~.evaluate.evaluate_with`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from avrepro.data.cache import FeatureCache
from avrepro.tasks.base import Evaluation
from avrepro.tasks.sync.evaluate import evaluate_with
from avrepro.tasks.sync.names import BASELINES


class ChanceScorer:
    """Random logits and one random map (heat map and contrast alike) per example, all drawn
    from one generator seeded by ``eval.seed``, clip by clip."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng([seed, 7])

    def scores(self, examples: list[dict], batch_size: int) -> tuple[np.ndarray, None]:
        return self.rng.standard_normal((len(examples), 2)), None

    def maps(self, cams: None, e: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        heat = self.rng.random(size)
        return heat, heat


def chance(
    cfg: dict, test: FeatureCache, *, train: FeatureCache | None = None, progress: bool = True
) -> Evaluation:
    """Random guesses and a random heat map (accuracy 50 % and the boxes' share in expectation)."""
    return evaluate_with(ChanceScorer(cfg["eval"]["seed"]), cfg, test, "chance", progress)


IMPLEMENTATIONS: dict[str, Callable[..., Evaluation]] = {"chance": chance}


def run_baseline(
    name: str, cfg: dict, test: FeatureCache, *, train: FeatureCache | None = None, progress: bool = True
) -> Evaluation:
    """The baseline ``name`` on the test split; ``ValueError`` listing the known ones otherwise."""
    if name not in BASELINES:
        raise ValueError(f"unknown sync baseline '{name}' (known: {', '.join(BASELINES)})")
    return IMPLEMENTATIONS[name](cfg, test, train=train, progress=progress)
