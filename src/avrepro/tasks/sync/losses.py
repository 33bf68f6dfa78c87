"""The sync task's training losses: binary cross-entropy of the aligned (0) and shifted (1) tracks."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sync_losses(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """``loss``: the BCE of ``logits`` (evidence that a track is shifted) against ``labels``;
    ``accuracy``: the share of right decisions (logged, not trained: no gradient)."""
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    accuracy = ((logits.detach() > 0).float() == labels).float().mean()
    return {"loss": loss, "accuracy": accuracy}
