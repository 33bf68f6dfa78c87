"""Sliding-window binauralisation of a whole clip against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from avrepro.tasks.binaural.sliding import sliding_binauralize, window_starts


def test_window_starts_end_aligned():
    # windows while start + window < n, then one aligned to the end
    assert window_starts(100, 30, 20) == [0, 20, 40, 60, 70]
    assert window_starts(90, 30, 20) == [0, 20, 40, 60]  # 60 + 30 == 90: the end window
    assert window_starts(30, 30, 10) == [0]
    with pytest.raises(ValueError, match="shorter than one window"):
        window_starts(29, 30, 10)


def test_known_binauralisation_is_reproduced():
    """L = a m, R = b m: the correct difference is (a - b) / (a + b) times the mixture."""
    rng = np.random.default_rng(0)
    m = rng.standard_normal(1000).astype(np.float32) * np.linspace(0.1, 2, 1000, dtype=np.float32)
    a, b = 0.8, 0.3
    true = np.stack([a * m, b * m])
    pred = sliding_binauralize(
        true, window=256, hop=100, rms=0.1, predict=lambda mix, starts: mix * (a - b) / (a + b)
    )
    np.testing.assert_allclose(pred, true, atol=1e-5)


def test_overlap_averaging_by_hand():
    """Constant mixture, each window predicts its own constant: every output sample is the mean
    over the windows covering it, including the end-aligned last window."""
    n, window, hop = 10, 4, 3  # starts 0, 3, then the end window 6
    true = np.full((2, n), 0.5, dtype=np.float32)  # rms 0.5 -> scale 0.2, scaled mixture 0.2
    consts = np.array([0.2, 0.1, -0.2], dtype=np.float32)
    pred = sliding_binauralize(
        true, window, hop, rms=0.1, predict=lambda mix, starts: np.repeat(consts[:, None], window, 1)
    )
    # per window, left = (0.2 + c) / 2 / 0.2 in original units
    left_w = (0.2 + consts) / 2 / 0.2
    expected_left = np.array(
        [left_w[0]] * 3
        + [np.mean(left_w[:2])]
        + [left_w[1]] * 2
        + [np.mean(left_w[1:])] * 1
        + [left_w[2]] * 3
    )
    np.testing.assert_allclose(pred[0], expected_left, atol=1e-6)
    np.testing.assert_allclose(pred[0] + pred[1], 1.0, atol=1e-6)  # the mixture is preserved


def test_clip_end_window_by_hand():
    """Only the end-aligned window predicts the true difference (the others predict none, i.e.
    mono): samples covered by it alone are exact, overlaps are the hand-computed means."""
    n, window, hop = 1000, 256, 100  # regular starts 0..700 (700 + 256 < 1000), end window 744
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
