"""Contrastive objectives of the spatial task (InfoNCE with temperature, L2-normalised vectors).

- :func:`avc_loss`: cross-modal instance discrimination (AVC): each viewpoint's video vector must
  pick its own audio among every other clip's (and vice versa). Other viewpoints of the same clip
  are left out of the negatives: telling them apart is AVSA's job, not AVC's.
- :func:`avsa_loss`: audio-visual spatial alignment (the AVSA code's "easy+hard" contrast): each
  predicted vector must pick its target among all viewpoints of the same clip (hard negatives)
  and the same viewpoint slot of every other clip in the batch (easy negatives).
- :func:`objective_losses`: the training step's losses of a model's outputs, by its objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def avc_loss(v: torch.Tensor, a: torch.Tensor, temperature: float) -> dict[str, torch.Tensor]:
    """AVC InfoNCE of video/audio vectors ``(B, K, P)``; mean of both directions.

    Returns:
        ``loss``, ``loss_v2a``, ``loss_a2v`` and ``acc_avc`` (share of video vectors whose best
        match among the allowed audio vectors is their own; a logged metric, not a loss).
    """
    b, k, _ = v.shape
    v = F.normalize(v.flatten(0, 1).float(), dim=-1)
    a = F.normalize(a.flatten(0, 1).float(), dim=-1)
    logits = v @ a.T / temperature
    clip = torch.arange(b, device=v.device).repeat_interleave(k)
    same = (clip[:, None] == clip[None, :]) & ~torch.eye(b * k, dtype=torch.bool, device=v.device)
    logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(b * k, device=v.device)
    v2a = F.cross_entropy(logits, target)
    a2v = F.cross_entropy(logits.T, target)
    with torch.no_grad():
        acc = (logits.argmax(1) == target).float().mean()
    return {"loss": (v2a + a2v) / 2, "loss_v2a": v2a, "loss_a2v": a2v, "acc_avc": acc}


def joint_contrast(
    pred: torch.Tensor, target: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """InfoNCE of ``pred`` against ``target`` (both ``(B, K, P)``) over the K viewpoints of the
    same clip (hard) and slot k of the B - 1 other clips (easy).

    Returns:
        the loss, and (no grad) the share of predictions that beat every easy negative (AVC
        accuracy) and every hard one (AVSA accuracy).
    """
    b, k, _ = pred.shape
    pred = F.normalize(pred.float(), dim=-1)
    target = F.normalize(target.float(), dim=-1)
    hard = torch.einsum("bkp,bjp->bkj", pred, target)  # (B, K, K)
    cross = torch.einsum("bkp,ckp->bkc", pred, target)  # (B, K, B): slot k of every clip
    off = ~torch.eye(b, dtype=torch.bool, device=pred.device)
    easy = cross.permute(1, 0, 2)[:, off].view(k, b, b - 1).permute(1, 0, 2)  # (B, K, B-1)
    logits = torch.cat([hard, easy], dim=-1) / temperature
    labels = torch.arange(k, device=pred.device).expand(b, k)
    loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten())
    with torch.no_grad():
        pos = hard.diagonal(dim1=1, dim2=2)  # (B, K)
        acc_avc = (pos[..., None] > easy).all(-1).float().mean() if b > 1 else pos.new_ones(())
        hard_neg = hard.masked_fill(torch.eye(k, dtype=torch.bool, device=pred.device), float("-inf"))
        acc_avsa = (pos >= hard_neg.amax(-1)).float().mean()
    return loss, acc_avc, acc_avsa


def avsa_loss(out: dict[str, torch.Tensor], temperature: float) -> dict[str, torch.Tensor]:
    """AVSA objective on the model's outputs: audio predicted from video (V2A) against the
    audio targets, video predicted from audio (A2V) against the video targets; mean of both."""
    v2a, acc_avc_a, acc_avsa_a = joint_contrast(out["a_pred"], out["a_trg"], temperature)
    a2v, acc_avc_v, acc_avsa_v = joint_contrast(out["v_pred"], out["v_trg"], temperature)
    return {
        "loss": (v2a + a2v) / 2,
        "loss_v2a": v2a,
        "loss_a2v": a2v,
        "acc_avc": (acc_avc_a + acc_avc_v) / 2,
        "acc_avsa": (acc_avsa_a + acc_avsa_v) / 2,
    }


def objective_losses(
    out: dict[str, torch.Tensor], objective: str, temperature: float
) -> dict[str, torch.Tensor]:
    """The named losses of one batch: :func:`avc_loss` of the ``avc`` model's outputs, else
    :func:`avsa_loss` (``out``: the model's forward outputs)."""
    if objective == "avc":
        return avc_loss(out["v"], out["a"], temperature)
    return avsa_loss(out, temperature)
