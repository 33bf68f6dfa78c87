"""The binaural training step: every loss term of every variant, the geometric-consistency
forms by hand."""

from __future__ import annotations

import pytest
import torch

from avrepro.tasks.binaural.losses import geometry_loss
from avrepro.tasks.binaural.names import VARIANTS
from avrepro.tasks.binaural.task import BinauralTask


def batch_of(ds, n=2):
    items = [ds[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def test_geometry_loss_by_hand():
    v = torch.zeros(4, 2, 1, 2)  # pairs (0, 2) and (1, 3), maps of 4 values
    v[2] = 1.0  # pair 0 differs by 1 everywhere: RMS distance 1
    v[3, 0, 0, 0] = 2.0  # pair 1 differs by 2 in one of 4 values: RMS distance 1
    mse = geometry_loss(v, 2, {"form": "mse", "margin": 0.0})
    assert float(mse) == pytest.approx((4 * 1 + 4) / 8)
    hinge = geometry_loss(v, 2, {"form": "hinge", "margin": 0.25})
    assert float(hinge) == pytest.approx(0.75)
    assert float(geometry_loss(v, 2, {"form": "hinge", "margin": 2.0})) == 0.0
    with pytest.raises(ValueError, match="hinge or mse"):
        geometry_loss(v, 2, {"form": "l1", "margin": 0.0})


EXPECTED = {
    "backbone": {"difference"},
    "film": {"difference"},
    "audio_only": {"difference"},
    "fusion": {"difference", "fusion"},
    "coherence": {"difference", "fusion", "coherence"},
    "geometry": {"difference", "fusion", "geometry"},
    "rir": {"difference", "fusion", "rir"},
    "full": {"difference", "fusion", "coherence", "geometry", "rir"},
}


def test_every_variant_has_its_expected_losses():
    assert set(EXPECTED) == set(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_losses_of_every_variant(caches, cfg, variant):
    train, val = caches
    task = BinauralTask()
    torch.manual_seed(0)
    model = task.build_model(cfg, variant).train()
    batch = batch_of(task.datasets(cfg, train, val, variant, seed=0)[0])
    losses = task.losses(model, batch, cfg)
    assert set(losses) == {"loss"} | EXPECTED[variant]
    lam = cfg["train"]["lambda"]
    total = lam["binaural"] * (losses["difference"] + losses.get("fusion", 0))
    total = total + sum(lam[k] * losses[k] for k in ("coherence", "geometry", "rir") if k in losses)
    torch.testing.assert_close(losses["loss"], total)
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if variant in ("rir", "full"):
        assert float(model.rir.target_count) == 2  # observed in training mode only
        model.eval()
        task.losses(model, batch, cfg)
        assert float(model.rir.target_count) == 2
    if variant == "audio_only":  # trained on blank frames
        assert torch.count_nonzero(batch["frame"]) == 0
