"""Sliding-window evaluation and the binaural metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from avrepro.metrics.binaural import clip_metrics, env_distance, stft_distance
from avrepro.tasks.binaural.sliding import sliding_binauralize, window_starts


def test_window_starts_end_aligned():
    # windows while start + window < n, then one aligned to the end
    assert window_starts(100, 30, 20) == [0, 20, 40, 60, 70]
    assert window_starts(90, 30, 20) == [0, 20, 40, 60]      # 60 + 30 == 90: the end window
    assert window_starts(30, 30, 10) == [0]
    with pytest.raises(ValueError, match="shorter than one window"):
        window_starts(29, 30, 10)


def test_known_binauralisation_is_reproduced():
    """L = a m, R = b m: the correct difference is (a - b) / (a + b) times the mixture."""
    rng = np.random.default_rng(0)
    m = rng.standard_normal(1000).astype(np.float32) * np.linspace(0.1, 2, 1000, dtype=np.float32)
    a, b = 0.8, 0.3
    true = np.stack([a * m, b * m])
    pred = sliding_binauralize(true, window=256, hop=100, rms=0.1,
                               predict=lambda mix, starts: mix * (a - b) / (a + b))
    np.testing.assert_allclose(pred, true, atol=1e-5)


def test_overlap_averaging_by_hand():
    """Constant mixture, each window predicts its own constant: every output sample is the mean
    over the windows covering it, including the end-aligned last window."""
    n, window, hop = 10, 4, 3          # starts 0, 3, then the end window 6
    true = np.full((2, n), 0.5, dtype=np.float32)   # rms 0.5 -> scale 0.2, scaled mixture 0.2
    consts = np.array([0.2, 0.1, -0.2], dtype=np.float32)
    pred = sliding_binauralize(true, window, hop, rms=0.1,
                               predict=lambda mix, starts: np.repeat(consts[:, None], window, 1))
    # per window, left = (0.2 + c) / 2 / 0.2 in original units
    left_w = (0.2 + consts) / 2 / 0.2
    expected_left = np.array([left_w[0]] * 3 + [np.mean(left_w[:2])]
                             + [left_w[1]] * 2 + [np.mean(left_w[1:])] * 1 + [left_w[2]] * 3)
    np.testing.assert_allclose(pred[0], expected_left, atol=1e-6)
    np.testing.assert_allclose(pred[0] + pred[1], 1.0, atol=1e-6)  # the mixture is preserved


def test_metrics_zero_for_perfect_and_scale_invariant():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16000)).astype(np.float32)
    np.testing.assert_allclose(list(clip_metrics(x, x).values()), [0, 0], atol=1e-12)
    # peak normalisation: a louder copy is a perfect prediction too
    np.testing.assert_allclose(list(clip_metrics(3 * x, x).values()), [0, 0], atol=1e-6)


def test_stft_distance_by_hand():
    """A pure sinusoid in one channel: the distance equals the mean |STFT|^2 of that channel."""
    t = np.arange(16000) / 16000
    sig = np.stack([np.sin(2 * np.pi * 1000 * t), np.zeros_like(t)]).astype(np.float32)
    zero = np.zeros_like(sig)
    d = stft_distance(sig, zero)
    assert d == pytest.approx(stft_distance(sig[:1].repeat(2, 0), zero) / 2, rel=1e-6)
    # Parseval-style check: mean over bins of |X|^2 for a windowed sinusoid
    import scipy.signal as ss

    win = ss.get_window("hann", 400, fftbins=True)
    win = np.pad(win, (56, 56))
    frames = 1 + 16000 // 160
    padded = np.pad(sig[0], 256, mode="reflect")
    spec = np.stack([np.fft.rfft(padded[i * 160:i * 160 + 512] * win) for i in range(frames)])
    assert d == pytest.approx(np.mean(np.abs(spec) ** 2) / 2 * 2 / 2, rel=1e-4)


def test_env_distance_by_hand():
    t = np.arange(8000) / 16000
    tone = np.sin(2 * np.pi * 500 * t)
    pred = np.stack([tone, tone])
    true = np.stack([0.5 * tone, tone])
    # envelopes 1 and 0.5 away from the edges: RMSE ~0.5 on the left channel, 0 on the right
    assert env_distance(pred, true) == pytest.approx(0.5, abs=0.02)



def test_clip_end_window_by_hand():
    """Only the end-aligned window predicts the true difference (the others predict none, i.e.
    mono): samples covered by it alone are exact, overlaps are the hand-computed means."""
    n, window, hop = 1000, 256, 100     # regular starts 0..700 (700 + 256 < 1000), end window 744
    assert window_starts(n, window, hop)[-2:] == [700, 744]
    rng = np.random.default_rng(3)
    m = rng.standard_normal(n).astype(np.float32)
    a, b = 0.9, 0.2
    true = np.stack([a * m, b * m])
    c = (a - b) / (a + b)

    def predict(mix, starts):
        return np.stack([mix[i] * (c if s == n - window else 0.0) for i, s in enumerate(starts)])

    pred = sliding_binauralize(true, window, hop, rms=0.1, predict=predict)
    mono_left, true_left = (a + b) / 2 * m, a * m
    np.testing.assert_allclose(pred[0, 956:], true_left[956:], rtol=1e-5, atol=1e-6)  # end window only
    # sample 950: windows 700 and 744; sample 800: windows 600, 700 and 744; sample 100: window 0
    assert pred[0, 950] == pytest.approx((mono_left[950] + true_left[950]) / 2, rel=1e-5)
    assert pred[0, 800] == pytest.approx((2 * mono_left[800] + true_left[800]) / 3, rel=1e-5)
    assert pred[0, 100] == pytest.approx(mono_left[100], rel=1e-5)
    np.testing.assert_allclose(pred.sum(0), true.sum(0), rtol=1e-5, atol=1e-6)  # mixture kept


def test_task_sliding_evaluation_reproduces_a_known_binauralisation():
    """Through the task's STFT/mask/ISTFT path: for L = a m, R = b m the correct complex mask
    is the constant (a - b) / (a + b); a net whose mask head outputs exactly that constant must
    reproduce the clip, including the tail only the end-aligned window covers, and a level
    that changes across windows (each window is RMS-normalised and rescaled)."""
    import math

    import torch

    from avrepro.tasks.binaural.task import BinauralTask

    sr, n = 16000, 16000 + 4321        # not a multiple of the hop: the end window is needed
    t = np.arange(n) / sr
    m = sum(np.sin(2 * np.pi * f * t + p) for f, p in ((220, 0.1), (1250, 1.0), (3100, 2.0)))
    m = (m * np.linspace(0.05, 1.0, n)).astype(np.float32)   # level rises 20x over the clip
    a, b = 0.45, 0.15
    true = np.stack([a * m, b * m])
    cfg = {"features": {"sample_rate": sr, "frame_width": 68, "frame_height": 34},
           "audio": {"window_seconds": 0.63, "n_fft": 512, "hop": 160, "win": 400, "rms": 0.1},
           "frames": {"crop_width": 64, "crop_height": 32, "jitter": [0.7, 1.3]},
           "model": {"ngf": 4, "visual_channels": 2, "weights": "none"},
           "eval": {"hop_seconds": 0.1, "batch_windows": 8, "fusion_output": "unet"}}
    task = BinauralTask()
    net = task.build_model(cfg, "backbone").eval()
    c = (a - b) / (a + b)
    with torch.no_grad():   # sigmoid(bias) * 2 - 1 = c on the real channel, 0 on the imaginary
        net.final[0].bias.copy_(torch.tensor([math.log((1 + c) / (1 - c)), 0.0]))
    frames = np.zeros((14, 34, 68, 3), dtype=np.uint8)
    pred = task.binauralize(net, cfg, true, frames, sr, 10.0)["audio"]
    assert pred.shape == true.shape
    np.testing.assert_allclose(pred, true, atol=2e-4 * np.abs(true).max())
    tail = slice(n - 500, n)            # covered by the end-aligned window alone
    np.testing.assert_allclose(pred[:, tail], true[:, tail], atol=2e-4 * np.abs(true).max())
