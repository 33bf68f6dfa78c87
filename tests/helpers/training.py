"""Training calls shared by the engine tests."""

from __future__ import annotations

from avrepro.engine.train import train
from avrepro.tasks import get_task


def train_film(caches: dict, cfg: dict, out, **kwargs) -> dict:
    """:func:`avrepro.engine.train.train` of binaural ``film`` on ``caches["train"]`` /
    ``caches["val"]`` into ``out`` (``kwargs``: seed, device, progress, on_step, init, ...)."""
    return train(get_task("binaural"), cfg, "film", caches["train"], caches["val"], out, **kwargs)
