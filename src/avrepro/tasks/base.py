"""The interface through which the engine knows a task (a registry entry in ``avrepro.tasks``)."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.utils.data import Dataset

from avrepro.data.cache import FeatureCache


class Task(Protocol):
    """What a task provides: a model, its data, named losses, and evaluation into metrics."""

    name: str

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        """The model of ``variant`` built from the task's config section."""

    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        """Optimizer parameter groups (with per-group learning rates)."""

    def datasets(self, cfg: dict, train: FeatureCache, val: FeatureCache, variant: str,
                 seed: int) -> tuple[Dataset, Dataset]:
        """Training dataset (with ``set_epoch``) and a fixed validation dataset."""

    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        """Named losses of one batch (already on the model's device); ``"loss"`` is the total."""

    def evaluate(self, model: nn.Module | None, cfg: dict, test: FeatureCache, name: str,
                 progress: bool = True) -> tuple[dict, list[dict], dict]:
        """Metrics over the test clips: (summary, per-clip rows, {clip_id: prediction})."""
