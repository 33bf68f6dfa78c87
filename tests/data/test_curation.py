"""FOA curation (|E_xyz/E_w - 1| <= tau after a 4 kHz low-pass): broken files out, valid ones in."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avrepro.audio.ambisonics import encode, rotate
from avrepro.data.curation import check_foa

FS = 16000


def _valid(seed: int) -> np.ndarray:
    """Three incoherent broadband sources at different directions (real ambiX/SN3D)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((4, FS))
    for _ in range(3):
        out += encode(
            rng.standard_normal(FS) * rng.uniform(0.2, 1.0), rng.uniform(-180, 180), rng.uniform(-40, 40)
        )
    return out


def _broken(foa: np.ndarray, stereo: np.ndarray) -> dict[str, np.ndarray]:
    w, y, z, x = foa
    left, right = stereo
    return {
        "mono copied to 4 channels": np.stack([w, w, w, w]),
        "stereo upmixed (L, R, L, R)": np.stack([left, right, left, right]),
        "stereo as W/Y, silent Z/X": np.stack([(left + right) / 2, (left - right) / 2, 0 * left, 0 * left]),
        "stereo to W only": np.stack([(left + right) / 2, 0 * left, 0 * left, 0 * left]),
        "FuMa scaling (W at -3 dB)": np.stack([w / math.sqrt(2), y, z, x]),
        "N3D normalisation": np.stack([w, y * math.sqrt(3), z * math.sqrt(3), x * math.sqrt(3)]),
        "W last (X, Y, Z, W order)": np.stack([x, y, z, w]),
        "W and Y swapped": np.stack([y, w, z, x]),
        "silent": np.zeros_like(foa),
    }


def test_valid_foa_is_kept_under_any_rotation():
    for seed in range(5):
        foa = _valid(seed)
        for yaw, pitch in [(0, 0), (70, 0), (-150, 30)]:
            ok, ratio, reason = check_foa(rotate(foa, yaw, pitch), FS, tau=0.1, lowpass_hz=4000)
            assert ok and reason == "" and abs(ratio - 1) <= 0.1, (seed, yaw, ratio, reason)


def test_every_broken_clip_is_rejected():
    rng = np.random.default_rng(7)
    for seed in range(5):
        foa = _valid(seed)
        common = rng.standard_normal(FS)
        stereo = np.stack([common + 0.3 * rng.standard_normal(FS), common + 0.3 * rng.standard_normal(FS)])
        for name, audio in _broken(foa, stereo).items():
            ok, ratio, reason = check_foa(audio, FS, tau=0.1, lowpass_hz=4000)
            assert not ok and reason, (name, ratio)


def test_shape_and_value_errors_are_reasons_not_crashes():
    ok, ratio, reason = check_foa(np.zeros((2, 100)), FS)
    assert not ok and math.isnan(ratio) and "4 channels" in reason
    bad = _valid(0)
    bad[2, 10] = np.nan
    assert check_foa(bad, FS)[2] == "NaN or Inf samples"
    assert "silent" in check_foa(np.zeros((4, 1000)), FS)[2]
    with pytest.raises(ValueError):
        check_foa(_valid(0), FS, tau=-1)


def test_lowpass_is_applied_before_the_ratio():
    """Energy above the cut-off does not count: a broken dipole content only above 6 kHz passes
    with the 4 kHz low-pass and fails without it."""
    from scipy.signal import butter, sosfiltfilt

    rng = np.random.default_rng(3)
    foa = encode(sosfiltfilt(butter(8, 3000, fs=FS, output="sos"), rng.standard_normal(FS)), 40.0)
    hiss = sosfiltfilt(butter(8, 6000, btype="highpass", fs=FS, output="sos"), rng.standard_normal(FS))
    foa[1:] += 2 * hiss  # loud non-ambisonic hiss on the dipoles, above 6 kHz only
    assert check_foa(foa, FS, 0.1, 4000)[0]
    assert not check_foa(foa, FS, 0.1, None)[0]
