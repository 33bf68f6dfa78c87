"""RIR targets (log-energy envelopes) against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from avrepro.tasks.binaural.rir import envelope_db, rir_shape
from helpers.configs import task_config

# 0.1 s in bins of 0.02 s, two bands (the top edge above Nyquist keeps the 8 kHz bin), floor -60 dB
CFG = task_config("binaural", {"rir": {"seconds": 0.1, "bands_hz": [0, 2000, 8001]}})["rir"]
SR = 16000


def test_shape():
    assert rir_shape(CFG) == (2, 2, 5)


def test_impulse_energy_by_hand():
    """An impulse of amplitude A at sample k: every FFT bin of its frame has |A w|^2, w the
    Hann window value at k's position in the frame; the other ear and bins sit at the floor."""
    hop = int(0.02 * SR)  # 320 samples per bin
    k, amp = 2 * hop + 100, 0.5  # bin 2, position 100
    rir = np.zeros((1, 2, 4000))
    rir[0, 0, k] = amp
    env = envelope_db(rir, SR, CFG)
    w = np.hanning(hop + 2)[1:-1][100]
    freqs = np.fft.rfftfreq(hop, 1 / SR)
    for band, (lo, hi) in enumerate([(0, 2000), (2000, 8001)]):
        count = np.count_nonzero((freqs >= lo) & (freqs < hi))
        assert env[0, band, 2] == pytest.approx(10 * np.log10(count * (amp * w) ** 2), abs=1e-4)
    assert np.all(np.delete(env[0], 2, axis=1) == -60.0)  # other time bins: floor
    assert np.all(env[1] == -60.0)  # silent right ear


def test_mean_over_sources_and_short_rirs():
    """The target averages the sources' band energies (order-free) and zero-pads short RIRs."""
    rng = np.random.default_rng(0)
    one, two = rng.standard_normal((1, 2, 900)), rng.standard_normal((1, 2, 900))
    both = envelope_db(np.concatenate([one, two]), SR, CFG)
    swapped = envelope_db(np.concatenate([two, one]), SR, CFG)
    np.testing.assert_array_equal(both, swapped)
    e1, e2 = (10 ** (envelope_db(x, SR, {**CFG, "floor_db": -300.0}) / 10) for x in (one, two))
    np.testing.assert_allclose(10 ** (both[:, :, :2] / 10), ((e1 + e2) / 2)[:, :, :2], rtol=1e-4)
    assert np.all(both[:, :, 3:] == -60.0)  # 900 samples < 3 bins of 320: the rest is silence


def test_bad_inputs():
    with pytest.raises(ValueError, match="sources, 2, n"):
        envelope_db(np.zeros((2, 100)), SR, CFG)
    with pytest.raises(ValueError, match="must increase"):
        envelope_db(np.zeros((1, 2, 100)), SR, {**CFG, "bands_hz": [0, 4000, 2000]})
