"""The spatial task's contrastive objectives (AVC and AVSA InfoNCE)."""

from __future__ import annotations

import math

import pytest
import torch

from avrepro.tasks.spatial.losses import avc_loss, avsa_loss, joint_contrast, objective_losses


def _onehot(b: int, k: int, dim: int) -> torch.Tensor:
    return torch.eye(dim)[: b * k].view(b, k, dim)


def test_avc_loss_matches_own_audio_and_ignores_same_clip_views():
    v = _onehot(4, 2, 8)
    out = avc_loss(v, v.clone(), 0.07)
    assert out["acc_avc"] == 1 and out["loss"] < 1e-3
    assert set(out) == {"loss", "loss_v2a", "loss_a2v", "acc_avc"}
    shuffled = avc_loss(v, v[torch.tensor([1, 2, 3, 0])], 0.07)
    assert shuffled["acc_avc"] == 0 and shuffled["loss"] > 5
    # both views of a clip carry the same audio: AVC must not be penalised for that
    a = v.clone()
    a[:, 1] = a[:, 0]
    vv = v.clone()
    vv[:, 1] = vv[:, 0]
    assert avc_loss(vv, a, 0.07)["loss"] < 1e-3


def test_avsa_contrast_uses_hard_negatives_from_the_same_clip():
    b, k = 3, 4
    pred = _onehot(b, k, 16)
    loss, acc_avc, acc_avsa = joint_contrast(pred, pred.clone(), 0.07)
    assert loss < 1e-3 and acc_avc == 1 and acc_avsa == 1
    # views of a clip indistinguishable: hard negatives tie with the positive -> loss ~ log K
    same = pred[:, :1].expand(b, k, 16).clone()
    loss, acc_avc, _ = joint_contrast(same, same.clone(), 0.07)
    assert loss == pytest.approx(math.log(k), abs=1e-3) and acc_avc == 1
    # a wrong view assignment within the clip is caught
    swapped = pred[:, [1, 0, 2, 3]]
    loss, _, acc_avsa = joint_contrast(pred, swapped, 0.07)
    assert acc_avsa == pytest.approx(0.5) and loss > 1
    out = avsa_loss({"v_pred": pred, "v_trg": pred, "a_pred": pred, "a_trg": swapped}, 0.07)
    assert set(out) == {"loss", "loss_v2a", "loss_a2v", "acc_avc", "acc_avsa"}
    assert out["loss_a2v"] < 1e-3 < out["loss_v2a"]


def test_objective_losses_pick_the_objective():
    pred = _onehot(3, 2, 8)
    avc = objective_losses({"v": pred, "a": pred.clone()}, "avc", 0.07)
    assert set(avc) == {"loss", "loss_v2a", "loss_a2v", "acc_avc"}
    torch.testing.assert_close(avc["loss"], avc_loss(pred, pred.clone(), 0.07)["loss"])
    out = {"v_pred": pred, "v_trg": pred, "a_pred": pred, "a_trg": pred}
    avsa = objective_losses(out, "avsa", 0.07)
    assert set(avsa) == {"loss", "loss_v2a", "loss_a2v", "acc_avc", "acc_avsa"}
    torch.testing.assert_close(avsa["loss"], avsa_loss(out, 0.07)["loss"])
