"""The spatial task's FOA front end, view geometry, models and curriculum initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avrepro.audio.ambisonics import encode, rotate_toward
from avrepro.tasks.spatial.data import view_rotations
from avrepro.tasks.spatial.model import LogMel, rotate_foa
from avrepro.tasks.spatial.task import SpatialTask
from avrepro.video.viewpoints import Viewpoint
from helpers.configs import task_config


def test_view_rotations_bring_each_viewpoint_to_the_front():
    s = np.random.default_rng(0).standard_normal(4000)
    vps = [Viewpoint(120.0, 15.0, 60, 60), Viewpoint(-45.0, -10.0, 60, 60)]
    rot = view_rotations(vps)
    for vp, r in zip(vps, rot, strict=True):
        src = encode(s, vp.yaw_deg, vp.pitch_deg)
        turned = rotate_foa(torch.from_numpy(src).float()[None], torch.from_numpy(r)[None, None])[0, 0]
        turned = turned.numpy()
        np.testing.assert_allclose(turned, encode(s, 0.0, 0.0), atol=1e-4)
    # a yaw offset (AVSA-Bin negatives) turns the source away from the front
    turned = view_rotations(vps[:1], yaw_offset_deg=90.0)[0] @ np.array([1.0, 0, 0])
    assert abs(turned[0]) < 0.99


def test_logmel_of_rotations_equals_logmel_of_rotated_waveforms_and_iv_has_sign():
    lm = LogMel(16000, 256, 128, 16, 100, "logmel_iv")
    x = np.random.default_rng(1).standard_normal((4, 4000)).astype(np.float32)
    vps = [Viewpoint(30.0, 10.0, 60, 60), Viewpoint(-100.0, 0.0, 60, 60)]
    fast = lm(torch.from_numpy(x)[None], torch.from_numpy(view_rotations(vps))[None])[0]
    turned = [rotate_toward(x, vp.yaw_deg, vp.pitch_deg).astype(np.float32) for vp in vps]
    slow = torch.stack([lm(torch.from_numpy(t)[None])[0] for t in turned])
    assert fast.shape == (2, 7, 32, 16)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    s = np.random.default_rng(2).standard_normal(4000)
    front = lm(torch.from_numpy(encode(s, 0.0)).float()[None])[0]
    back = lm(torch.from_numpy(encode(s, 180.0)).float()[None])[0]
    torch.testing.assert_close(front[:4], back[:4])  # magnitudes cannot tell front from back
    assert front[4].mean() > 0.99 and back[4].mean() < -0.99  # the intensity can
    with pytest.raises(ValueError, match="logmel"):
        LogMel(16000, 256, 128, 16, 100, "mfcc")


def test_models_and_curriculum_init():
    cfg = task_config("spatial")  # width 4, embed 16, proj 8, 3 viewpoints, one-layer transformers
    task = SpatialTask()
    torch.manual_seed(0)
    crops, foa = torch.rand(2, 3, 1, 3, 16, 16), torch.randn(2, 4, 8000) * 0.1
    rot = torch.eye(3).expand(2, 3, 3, 3)
    avc, avsa = task.build_model(cfg, "avc"), task.build_model(cfg, "avsa")
    assert (avc.objective, avsa.objective) == ("avc", "avsa")
    assert avc.temperature == cfg["model"]["temperature"]
    assert {k: tuple(v.shape) for k, v in avc(crops, foa, rot).items()} == {"v": (2, 3, 8), "a": (2, 3, 8)}
    out = avsa(crops, foa, rot)
    assert set(out) == {"v_pred", "v_trg", "a_pred", "a_trg"} and out["a_pred"].shape == (2, 3, 8)
    head_before = avsa.audio_head.weight.clone()
    task.init_from(avsa, avc.state_dict())
    for key, value in avc.state_dict().items():
        if key.startswith(("video.", "audio.")):
            torch.testing.assert_close(avsa.state_dict()[key], value)
    torch.testing.assert_close(avsa.audio_head.weight, head_before)
    with pytest.raises(ValueError, match="trunk"):
        task.init_from(avsa, {"video_proj.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="objective"):
        task.objective_model(cfg, "sync")
    with pytest.raises(KeyError, match="spatial.objectives has no entry for variant 'sync'"):
        task.build_model(cfg, "sync")
