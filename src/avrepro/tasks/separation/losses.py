"""The separation training step's loss: each video's mask on the mixture against its target.

Binary masks: weighted BCE on ``|S_n| > 0.5 |mix|``; ratio masks: weighted L1 on
``|S_n| / |mix|`` (targets and weights: :func:`avrepro.tasks.separation.spectral.mask_targets`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avrepro.tasks.separation import spectral


def mask_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, kind: str) -> torch.Tensor:
    """Weighted BCE on the sigmoid mask (binary) or weighted L1 (ratio), mean over all bins."""
    logits = logits.float()
    if kind == "binary":  # BCE of sigmoid(logits), computed stably from the logits
        return F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    return torch.mean(weight * (torch.sigmoid(logits) - target).abs())


def separation_losses(model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
    """``{"loss"}`` of one batch of mixtures (``audio`` ``(B, N, L)``, ``frames``) for the plain
    PixelPlayer ``model`` (its ``mask_kind`` picks the target)."""
    kind = model.mask_kind
    prep = spectral.prepare(batch["audio"], cfg["audio"])
    target, weight = spectral.mask_targets(prep["mags"], prep["mag_mix"], kind, cfg["loss"])
    logits = model(prep["log_mag"], batch["frames"])
    return {"loss": mask_loss(logits, target, weight, kind)}
