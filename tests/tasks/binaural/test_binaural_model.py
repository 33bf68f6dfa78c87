"""Binaural nets: shapes and the mono-mono start of every variant, FiLM and APNet conditioning,
the RIR head's running mean, parameter groups, visual weights sources."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torchvision.models import ResNet18_Weights, resnet18

from avrepro.nets.resnet import resnet18_trunk
from avrepro.tasks.binaural.model import build_model
from avrepro.tasks.binaural.names import VARIANTS
from helpers.configs import task_config

MODEL = task_config("binaural")["model"]  # the smoke nets: ngf 8, 8 visual channels, no weights
RIR_SHAPE = (2, 3, 4)


def model_of(variant, **kw):
    return build_model(variant, (32, 64), **MODEL, rir_shape=RIR_SHAPE, **kw)


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes_and_mono_start(variant):
    torch.manual_seed(0)
    model = model_of(variant).eval()
    spec, frames = torch.randn(3, 2, 256, 64), torch.randn(3, 3, 32, 64)
    coh = torch.randn(3, 4, 256, 64)
    out = model(spec, frames, coherence_spec=coh)
    assert out["mask"].shape == (3, 2, 256, 64)
    assert out["visual_map"].shape == (3, 512, 1, 2)
    # the mask heads start at mono-mono: no L-R difference, each ear half the mixture
    assert torch.count_nonzero(out["mask"]) == 0
    parts = model.parts
    assert ("left_mask" in out) == parts.fusion and ("coherence_logit" in out) == parts.coherence
    assert ("rir" in out) == parts.rir
    if parts.fusion:
        for key in ("left_mask", "right_mask"):
            torch.testing.assert_close(out[key][:, 0], torch.full((3, 256, 64), 0.5))
            torch.testing.assert_close(out[key][:, 1], torch.zeros(3, 256, 64))
    if parts.coherence:
        assert out["coherence_logit"].shape == (3,)
    if parts.rir:
        assert out["rir"].shape == (3, *RIR_SHAPE)


def test_shape_error_names_the_expected_shape():
    model = model_of("backbone")
    with pytest.raises(ValueError, match=r"F and T divisible by 32"):
        model(torch.randn(1, 2, 257, 64), torch.randn(1, 3, 32, 64))


def test_film_makes_every_decoder_level_depend_on_the_frame():
    torch.manual_seed(0)
    model = model_of("film").eval()
    for layer in model.film:  # leave the identity start
        torch.nn.init.normal_(layer.weight, std=0.1)
    torch.nn.init.normal_(model.final[0].weight, std=0.1)
    spec = torch.randn(1, 2, 256, 64)
    a = model(spec, torch.randn(1, 3, 32, 64))["mask"]
    b = model(spec, torch.randn(1, 3, 32, 64))["mask"]
    assert not torch.allclose(a, b)
    assert model.visual.dim == 8 * 1 * 2  # 1x1 conv channels x (32/32) x (64/32)


def test_apnet_attends_to_where_things_are_in_the_frame():
    """Leaving the mono start, the left/right masks change when the frame is mirrored."""
    torch.manual_seed(0)
    model = model_of("fusion").eval()
    for head in (model.apnet.left, model.apnet.right):
        torch.nn.init.normal_(head.weight, std=0.1)
    spec, frame = torch.randn(1, 2, 256, 64), torch.randn(1, 3, 32, 64)
    a = model(spec, frame)["left_mask"]
    b = model(spec, frame.flip(-1))["left_mask"]
    assert not torch.allclose(a, b)
    # precomputed visual features give the same output as frames (evaluation caches them)
    torch.testing.assert_close(model(spec, visual=model.encode(frame))["left_mask"], a)


def test_rir_head_starts_at_the_running_mean_of_its_targets():
    model = model_of("rir").train()
    targets = torch.arange(2 * 24, dtype=torch.float32).view(2, *RIR_SHAPE)
    model.rir.observe(targets[:1])
    model.rir.observe(targets[1:])
    torch.testing.assert_close(model.rir.mean(), targets.mean(0))
    out = model.eval()(torch.randn(2, 2, 256, 64), torch.randn(2, 3, 32, 64))["rir"]
    torch.testing.assert_close(out, targets.mean(0).expand(2, *RIR_SHAPE))  # zero-initialised deviation
    state = model.state_dict()
    assert "rir.target_sum" in state and float(state["rir.target_count"]) == 2


def test_param_groups_cover_every_parameter_once():
    model = model_of("full")
    groups = model.param_groups(1e-4, 1e-3, 2e-4)
    assert [g["lr"] for g in groups] == [1e-4, 1e-3, 2e-4]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    heads = {id(p) for p in list(model.coherence.parameters()) + list(model.rir.parameters())}
    assert {id(p) for p in groups[2]["params"]} == heads


def test_unknown_variant_and_missing_rir_shape():
    with pytest.raises(ValueError, match="unknown binaural variant 'apnet'"):
        build_model("apnet", (32, 64), **MODEL)
    with pytest.raises(ValueError, match="rir_shape"):
        build_model("full", (32, 64), **MODEL)


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
