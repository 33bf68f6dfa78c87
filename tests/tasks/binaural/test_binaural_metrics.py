"""The binaural metrics (STFT and envelope distances) against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from avrepro.metrics.binaural import clip_metrics, env_distance, stft_distance


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
    spec = np.stack([np.fft.rfft(padded[i * 160 : i * 160 + 512] * win) for i in range(frames)])
    assert d == pytest.approx(np.mean(np.abs(spec) ** 2) / 2 * 2 / 2, rel=1e-4)


def test_env_distance_by_hand():
    t = np.arange(8000) / 16000
    tone = np.sin(2 * np.pi * 500 * t)
    pred = np.stack([tone, tone])
    true = np.stack([0.5 * tone, tone])
    # envelopes 1 and 0.5 away from the edges: RMSE ~0.5 on the left channel, 0 on the right
    assert env_distance(pred, true) == pytest.approx(0.5, abs=0.02)
