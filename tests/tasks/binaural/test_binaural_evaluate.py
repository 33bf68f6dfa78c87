"""Evaluation of trained binaural models, controls and baselines on a tiny in-memory cache, and
the sliding-window path through the STFT, the mask and the ISTFT."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avrepro.tasks.binaural.baselines import METHODS
from avrepro.tasks.binaural.evaluate import binauralize
from avrepro.tasks.binaural.names import BASELINES
from avrepro.tasks.binaural.task import BinauralTask
from helpers.configs import task_config


def _perturbed(task, cfg, variant, seed=0):
    """A model off its mono-mono start, so that its outputs depend on the frame."""
    torch.manual_seed(seed)
    model = task.build_model(cfg, variant)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1 and (
                "apnet.left" in name or "apnet.right" in name or "final" in name or "rir.mlp.2" in name
            ):
                p.normal_(std=0.2)
    return model.eval()


def test_evaluate_variant_control_and_baseline(caches, cfg):
    _, test = caches
    task = BinauralTask()
    model = _perturbed(task, cfg, "full")
    model.rir.observe(torch.from_numpy(np.stack([np.full((2, 2, 5), -20.0, np.float32)])))
    summary, rows, preds = task.evaluate(model, cfg, test, "full", progress=False)
    for key in (
        "stft_distance",
        "env_distance",
        "coherence_accuracy",
        "rir_error",
        "rir_error_mean_baseline",
    ):
        assert {key, f"{key}_std", f"{key}_sem"} <= set(summary), key
    assert summary["n_clips"] == 2 and [r["clip_id"] for r in rows] == test.clip_ids
    assert all(0.0 <= r["coherence_accuracy"] <= 1.0 for r in rows)
    assert set(preds) == {"c000", "rir_envelopes.json"}
    assert preds["c000"].shape == (2, 20800)  # 1.3 s at 16 kHz
    env = preds["rir_envelopes.json"]["clips"]["c000"]
    assert np.asarray(env["mean"]).max() == pytest.approx(-20.0)
    flipped, flipped_rows, _ = task.evaluate(model, cfg, test, "flipped", progress=False)
    assert flipped["stft_distance"] != pytest.approx(summary["stft_distance"])
    mono, _, mono_preds = task.baseline("mono_mono", cfg, test, progress=False)
    assert set(mono) == {
        "n_clips",
        "stft_distance",
        "stft_distance_std",
        "stft_distance_sem",
        "env_distance",
        "env_distance_std",
        "env_distance_sem",
    }
    np.testing.assert_array_equal(mono_preds["c000"][0], mono_preds["c000"][1])
    with pytest.raises(ValueError, match="unknown binaural baseline 'silence'"):
        task.baseline("silence", cfg, test, progress=False)
    with pytest.raises(ValueError, match="unknown binaural variant or control 'mirrored'"):
        task.evaluate(model, cfg, test, "mirrored", progress=False)


def test_every_baseline_has_an_implementation():
    assert tuple(METHODS) == BASELINES


def test_audio_only_ignores_the_frames(caches, cfg):
    _, test = caches
    sr, fps = test.sample_rate, test.fps
    task = BinauralTask()
    model = _perturbed(task, cfg, "audio_only")
    true = test.audio_float(0)
    a = binauralize(model, cfg, true, test.frames(0), sr, fps, mode="blank")["audio"]
    b = binauralize(model, cfg, true, 255 - test.frames(1), sr, fps, mode="blank")["audio"]
    np.testing.assert_array_equal(a, b)
    cfg["eval"]["fusion_output"] = "nonsense"
    with pytest.raises(ValueError, match="fusion_output"):
        binauralize(_perturbed(task, cfg, "fusion"), cfg, true, test.frames(0), sr, fps)


def test_task_sliding_evaluation_reproduces_a_known_binauralisation():
    """Through the task's STFT/mask/ISTFT path: for L = a m, R = b m the correct complex mask
    is the constant (a - b) / (a + b); a net whose mask head outputs exactly that constant must
    reproduce the clip, including the tail only the end-aligned window covers, and a level
    that changes across windows (each window is RMS-normalised and rescaled)."""
    sr, n = 16000, 16000 + 4321  # not a multiple of the hop: the end window is needed
    t = np.arange(n) / sr
    m = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((220, 0.1), (1250, 1.0), (3100, 2.0)))
    m = (m * np.linspace(0.05, 1.0, n)).astype(np.float32)  # level rises 20x over the clip
    a, b = 0.45, 0.15
    true = np.stack([a * m, b * m])
    cfg = task_config(
        "binaural",
        {
            "model": {"ngf": 4, "visual_channels": 2},
            "eval": {"hop_seconds": 0.1, "batch_windows": 8, "fusion_output": "unet"},
        },
    )
    assert cfg["features"]["sample_rate"] == sr
    task = BinauralTask()
    net = task.build_model(cfg, "backbone").eval()
    c = (a - b) / (a + b)
    with torch.no_grad():  # sigmoid(bias) * 2 - 1 = c on the real channel, 0 on the imaginary
        net.final[0].bias.copy_(torch.tensor([math.log((1 + c) / (1 - c)), 0.0]))
    frames = np.zeros((14, 34, 68, 3), dtype=np.uint8)
    pred = binauralize(net, cfg, true, frames, sr, 10.0)["audio"]
    assert pred.shape == true.shape
    np.testing.assert_allclose(pred, true, atol=2e-4 * np.abs(true).max())
    tail = slice(n - 500, n)  # covered by the end-aligned window alone
    np.testing.assert_allclose(pred[:, tail], true[:, tail], atol=2e-4 * np.abs(true).max())
