"""Mono2Binaural nets: shapes, the mono-mono start, FiLM conditioning, visual weights sources."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torchvision.models import ResNet18_Weights, resnet18

from avrepro.nets.resnet import resnet18_trunk
from avrepro.tasks.binaural.model import build_model

CFG = {"ngf": 8, "visual_channels": 8, "weights": "none"}


@pytest.mark.parametrize("variant", ["backbone", "film", "audio_only"])
def test_shapes_and_zero_start(variant):
    torch.manual_seed(0)
    model = build_model(variant, CFG, (64, 128)).eval()
    spec, frames = torch.randn(3, 2, 256, 64), torch.randn(3, 3, 64, 128)
    mask = model(spec, frames)
    assert mask.shape == (3, 2, 256, 64)
    # the mask head starts at zero: training begins at mono-mono's prediction (no L-R difference)
    assert torch.count_nonzero(mask) == 0


def test_shape_error_names_the_expected_shape():
    model = build_model("backbone", CFG, (64, 128))
    with pytest.raises(ValueError, match=r"F and T divisible by 32"):
        model(torch.randn(1, 2, 257, 64), torch.randn(1, 3, 64, 128))


def test_film_makes_every_decoder_level_depend_on_the_frame():
    torch.manual_seed(0)
    model = build_model("film", CFG, (64, 128)).eval()
    for layer in model.film:  # leave the identity start
        torch.nn.init.normal_(layer.weight, std=0.1)
    torch.nn.init.normal_(model.final[0].weight, std=0.1)
    spec = torch.randn(1, 2, 256, 64)
    a = model(spec, torch.randn(1, 3, 64, 128))
    b = model(spec, torch.randn(1, 3, 64, 128))
    assert not torch.allclose(a, b)
    assert model.visual.dim == 8 * 2 * 4  # 1x1 conv channels x (64/32) x (128/32)


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown binaural variant 'fusion'"):
        build_model("fusion", CFG, (64, 128))


def test_imagenet_offline_falls_back_with_a_note(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(ResNet18_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline)
    with pytest.warns(RuntimeWarning, match="unavailable"):
        _, note = resnet18_trunk("imagenet")
    assert "random init" in note


def test_weights_from_a_file(tmp_path):
    torch.manual_seed(1)
    reference = resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "r18.pt")
    trunk, note = resnet18_trunk(str(tmp_path / "r18.pt"))
    assert str(tmp_path) in note
    assert torch.equal(trunk[0].weight, reference.conv1.weight)
    with pytest.raises(FileNotFoundError, match="missing.pt: ResNet-18 weights file not found"):
        resnet18_trunk(str(tmp_path / "missing.pt"))
