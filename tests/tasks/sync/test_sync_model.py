"""Sync net: shapes, the CAM's relation to the logit, blanked inputs of the shortcut variants, the
losses, CAM scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sync_toy import TINY, TOY_CFG

from avrepro.nets.audio1d import WaveformTrunk, mu_law
from avrepro.tasks import get_task
from avrepro.tasks.sync.cam import display_map, heatmap, localization, upsample, window_boxes
from avrepro.tasks.sync.losses import sync_losses
from avrepro.tasks.sync.model import INPUTS, build_model
from avrepro.tasks.sync.names import VARIANTS
from helpers import ROOT


def toy_net(variant: str):
    """The toy-sized net of ``variant``, built as the engine builds it."""
    return get_task("sync").build_model(TOY_CFG, variant)


def inputs(b=2, k=2, t=10, h=16, w=32, n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, t, h, w, generator=g) * 2 - 1, torch.randn(b, k, n, generator=g) * 0.1


@torch.no_grad()
def test_shapes_and_cam_is_the_logit_layer_on_the_last_map():
    torch.manual_seed(0)
    net = toy_net("fused").eval()
    frames, audio = inputs()
    logits, cam = net(frames, audio, cam=True)
    assert logits.shape == (2, 2)
    assert cam.shape == (2, 2, 5, 4, 8)  # time /2, space /4 (conv1 stride 2, pool 2)
    assert torch.allclose(net(frames, audio), logits)
    # sign and scale: the CAM's mean plus the logit bias is the logit (the shifted-class score)
    assert torch.allclose(cam.mean(dim=(2, 3, 4)) + net.logit.bias, logits, atol=1e-5)
    heat = heatmap(cam[0, 0])
    assert heat.shape == (4, 8) and (heat >= 0).all()
    assert np.allclose(heat, cam[0, 0].abs().mean(0).numpy(), atol=1e-6)
    up = upsample(heat, (16, 32))
    assert up.shape == (16, 32) and (up >= 0).all()
    assert upsample(np.abs(cam[0, 0].numpy()), (10, 16, 32)).shape == (10, 16, 32)


@torch.no_grad()
def test_shortcut_variants_ignore_the_blanked_input():
    torch.manual_seed(0)
    frames, audio = inputs()
    other_frames, other_audio = inputs(seed=1)
    audio_only = toy_net("audio_only").eval()
    video_only = toy_net("video_only").eval()
    fused = toy_net("fused").eval()
    assert torch.equal(audio_only(frames, audio), audio_only(other_frames, audio))
    assert torch.equal(video_only(frames, audio), video_only(frames, other_audio))
    out = video_only(frames, audio)
    assert torch.equal(out[:, 0], out[:, 1])  # silent tracks: aligned and shifted look the same
    assert not torch.allclose(fused(frames, audio), fused(other_frames, audio))
    assert not torch.allclose(fused(frames, audio), fused(frames, other_audio))
    with pytest.raises(ValueError, match="unknown sync variant"):
        build_model("stereo", **TINY)
    assert set(INPUTS) == set(VARIANTS)  # every variant says which inputs it sees


def test_losses_are_bce_and_logged_accuracy():
    logits = torch.tensor([[-2.0, 1.0], [0.5, 3.0]], requires_grad=True)
    labels = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    out = sync_losses(logits, labels)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    assert set(out) == {"loss", "accuracy"} and torch.equal(out["loss"], expected)
    assert out["accuracy"].item() == 0.75 and not out["accuracy"].requires_grad  # 0.5 > 0: wrong


def test_audio_trunk_and_mu_law():
    x = torch.linspace(-1, 1, 101)
    y = mu_law(x)
    assert torch.allclose(y[[0, 50, 100]], torch.tensor([-1.0, 0.0, 1.0]), atol=1e-5)
    assert (torch.diff(y) > 0).all() and torch.allclose(y, -mu_law(-x))
    trunk = WaveformTrunk([64, 128, 128, 256])  # the paper's widths, kernels 65/15, strides 4
    assert trunk(torch.zeros(1, 16384)).shape == (1, 256, 16)  # 16384 / (4 * 4 * 4 ** 3)
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        trunk(torch.zeros(1, 1, 100))


def test_localization_scores_against_scaled_boxes():
    meta = {
        "frame_size": [128, 64],
        "sources": [{"boxes": [[32, 16, 48, 40], [30, 16, 50, 44], [0, 0, 0, 0]]}],
    }
    boxes = window_boxes(meta, 0, 3, (32, 16))  # union over the window, scaled by 1/4
    assert boxes == [[7, 4, 13, 11]]
    heat = np.zeros((16, 32))
    heat[5:9, 8:12] = 1.0
    s = localization(heat, boxes)
    assert s["map_mass_in_box"] == 1.0 and s["raw_mass_in_box"] == 1.0 and s["pointing_accuracy"] == 1.0
    assert s["box_share"] == pytest.approx(6 * 7 / (16 * 32))
    heat[0, 0] = 10.0  # a stronger peak outside the box: the pointing game misses
    s = localization(heat, boxes)
    assert s["pointing_accuracy"] == 0.0 and s["raw_mass_in_box"] == pytest.approx(16 / 26)
    assert s["map_mass_in_box"] == pytest.approx(16 / 17)  # the display saturates at its 97th percentile
    # a flat map scores the chance level; weak diffuse activation is not displayed
    flat = localization(np.full((16, 32), 0.3), boxes)
    assert flat["map_mass_in_box"] == pytest.approx(flat["box_share"]) and flat["pointing_accuracy"] == 0.0
    assert display_map(np.full((4, 4), 0.3)).min() == 1.0
    ramp = display_map(np.arange(100.0).reshape(10, 10))
    assert ramp[0, 0] == 0.0 and ramp[-1, -1] == 1.0 and (ramp[:4] == 0).all()  # below half of p97
    assert np.isnan(localization(heat, [])["map_mass_in_box"])


@pytest.mark.parametrize(
    "profile, frames_shape, cam_shape",
    [
        ("default", (15, 32, 64), (8, 8, 16)),  # CAM at 1/4 of the frame: 8 x 16 cells
        ("paper", (16, 64, 64), (2, 4, 4)),  # the official CAM net: time / 8, space / 16
    ],
)
@torch.no_grad()
def test_profiles_build_the_documented_nets(profile, frames_shape, cam_shape):
    from avrepro.config import load_params

    cfg = load_params(ROOT / "params.yaml", overrides={"profile": profile})["sync"]
    net = get_task("sync").build_model(cfg, "fused").eval()
    t = frames_shape[0]
    n = int(round(t / 10 * cfg["features"]["sample_rate"]))
    logits, cam = net(torch.zeros(1, 3, *frames_shape), torch.zeros(1, 2, n), cam=True)
    assert logits.shape == (1, 2) and cam.shape[2:] == cam_shape
