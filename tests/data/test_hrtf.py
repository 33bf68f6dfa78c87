"""The packaged KEMAR HRIR table: reproducible from the SOFA file, and physically sensible."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from avrepro.audio import hrtf
from avrepro.audio.derive_hrtf import derive, npz_bytes
from helpers import ROOT

SOFA = ROOT.parent / "shared/data/hrtf/MIT_KEMAR_normal_pinna.sofa"


def _shipped() -> dict[str, np.ndarray]:
    import io

    blob = resources.files("avrepro.audio").joinpath(hrtf.TABLE_NAME).read_bytes()
    with np.load(io.BytesIO(blob), allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


@pytest.mark.skipif(
    not SOFA.is_file(), reason=f"SOFA source not present at {SOFA} (only in the dev checkout)"
)
def test_shipped_table_is_reproduced_from_sofa():
    derived = derive(SOFA)
    shipped = _shipped()
    assert list(shipped) == list(derived)
    for key, value in derived.items():
        assert shipped[key].dtype == value.dtype, key
        np.testing.assert_array_equal(shipped[key], value, err_msg=key)


def test_table_format_and_size():
    blob = resources.files("avrepro.audio").joinpath(hrtf.TABLE_NAME).read_bytes()
    assert len(blob) < 400_000
    assert npz_bytes(_shipped()) == npz_bytes(_shipped())  # deterministic writer
    table = hrtf.load_table()
    assert table.sample_rate == hrtf.sample_rate() == 16000
    assert table.hrir.shape == (710, 2, 160) and table.hrir.dtype == np.float32
    assert np.isfinite(table.hrir).all()
    assert resources.files("avrepro.audio").joinpath("HRTF_ATTRIBUTION.md").is_file()


def _onset(x: np.ndarray) -> int:
    return int(np.argmax(np.abs(x) > 0.2 * np.abs(x).max()))


@pytest.mark.parametrize("az", [60.0, 30.0, -60.0])
def test_lateral_source_is_louder_and_earlier_at_the_near_ear(az):
    h = hrtf.hrir(az, 0.0)
    assert h.shape == (2, 160)
    near, far = (0, 1) if az > 0 else (1, 0)  # +azimuth = left = ear 0
    energy = (h.astype(np.float64) ** 2).sum(axis=1)
    assert 10 * np.log10(energy[near] / energy[far]) > 6.0
    assert _onset(h[near]) < _onset(h[far])


def test_nearest_direction_wraps_and_clamps():
    np.testing.assert_array_equal(hrtf.hrir(60.0), hrtf.hrir(420.0))
    table = hrtf.load_table()
    assert table.elevation_deg[table.nearest(10.0, -90.0)] == -40.0  # lowest measured ring
    front = hrtf.hrir(0.0, 0.0)
    e = (front.astype(np.float64) ** 2).sum(axis=1)
    assert abs(10 * np.log10(e[0] / e[1])) < 1.5


def test_resampled_table():
    t48 = hrtf.load_table(48000)
    assert t48.sample_rate == 48000 and t48.hrir.shape == (710, 2, 480)
