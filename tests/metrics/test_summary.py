"""The one summary of per-clip values that every task's metric file uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avrepro.metrics.summary import summarize, t_interval


def test_mean_std_sem_over_clips():
    rows = [{"stft_distance": v, "env_distance": 2 * v} for v in (1.0, 2.0, 3.0, 4.0)]
    s = summarize(rows, ("stft_distance", "env_distance"))
    assert s["n_clips"] == 4 and s["stft_distance"] == 2.5 and s["env_distance"] == 5.0
    assert s["stft_distance_std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s["stft_distance_sem"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)


def test_one_nan_rule_missing_and_nan_values_are_left_out():
    rows = [{"sdr": 1.0, "box": math.nan}, {"sdr": 3.0}, {"sdr": math.inf, "box": 0.5}]
    s = summarize(rows, ("sdr", "box", "absent"))
    assert s["n_clips"] == 3  # rows, whatever their values
    assert s["sdr"] == 2.0 and s["box"] == 0.5 and s["box_std"] == 0.0 and s["box_sem"] == 0.0
    assert "absent" not in s and "absent_sem" not in s  # no finite value: no key


def test_constant_values_have_exactly_zero_spread():
    s = summarize([{"a": 0.1}] * 7, ("a",))
    assert s["a_std"] == 0.0 and s["a_sem"] == 0.0


def test_t_interval_is_clipped_to_its_bounds():
    rows = [{"accuracy": a} for a in (0.5, 1.0, 0.75)]
    s = summarize(rows, ("accuracy",))
    ci = t_interval(s, "accuracy", len(rows))
    half = 4.302652729911275 * s["accuracy_sem"]  # t(0.975, 2 dof)
    assert ci["accuracy_ci_low"] == pytest.approx(0.75 - half)
    assert 0.75 + half > 1 and ci["accuracy_ci_high"] == 1.0
    assert t_interval(s, "accuracy", 1) == {} and t_interval(s, "missing", 3) == {}
