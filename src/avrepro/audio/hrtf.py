"""Head-related impulse responses from the packaged MIT KEMAR table (``hrir_kemar.npz``).

Directions: azimuth in degrees counter-clockwise from straight ahead (+90 = left),
elevation in degrees up from the horizontal plane. Ear 0 = left, ear 1 = right.
The table is derived by :mod:`avrepro.audio.derive_hrtf`; see ``HRTF_ATTRIBUTION.md``.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

TABLE_NAME = "hrir_kemar.npz"


@dataclass(frozen=True)
class HrirTable:
    """Measured HRIRs: ``hrir`` (M, 2, taps) float32, directions in degrees, unit vectors (M, 3)."""

    hrir: np.ndarray
    azimuth_deg: np.ndarray
    elevation_deg: np.ndarray
    sample_rate: int

    @functools.cached_property
    def unit_vectors(self) -> np.ndarray:
        return direction_vectors(self.azimuth_deg, self.elevation_deg)

    def nearest(self, azimuth_deg, elevation_deg) -> np.ndarray:
        """Index of the nearest measured direction (great-circle), same shape as the inputs."""
        az, el = np.broadcast_arrays(np.asarray(azimuth_deg, float), np.asarray(elevation_deg, float))
        v = direction_vectors(az.ravel(), el.ravel())
        return np.argmax(v @ self.unit_vectors.T, axis=1).reshape(az.shape)


def direction_vectors(azimuth_deg, elevation_deg) -> np.ndarray:
    """Unit vectors (..., 3) as (front, left, up) components."""
    az = np.deg2rad(np.asarray(azimuth_deg, float))
    el = np.deg2rad(np.asarray(elevation_deg, float))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


@functools.lru_cache(maxsize=8)
def load_table(rate: int | None = None) -> HrirTable:
    """The packaged HRIR table (cached per process), resampled to ``rate`` if given.

    Resampling up from the stored 16 kHz keeps the table's 8 kHz bandwidth.
    """
    blob = resources.files("avrepro.audio").joinpath(TABLE_NAME).read_bytes()
    with np.load(io.BytesIO(blob), allow_pickle=False) as d:
        table = HrirTable(
            hrir=d["hrir"].astype(np.float32),
            azimuth_deg=d["azimuth_deg"].astype(np.float64),
            elevation_deg=d["elevation_deg"].astype(np.float64),
            sample_rate=int(d["sample_rate"]),
        )
    if rate is None or int(rate) == table.sample_rate:
        return table
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(int(rate), table.sample_rate)
    res = resample_poly(table.hrir.astype(np.float64), ratio.numerator, ratio.denominator, axis=-1)
    return HrirTable(
        hrir=res.astype(np.float32),
        azimuth_deg=table.azimuth_deg,
        elevation_deg=table.elevation_deg,
        sample_rate=int(rate),
    )


def sample_rate() -> int:
    """Sample rate of the packaged table (Hz)."""
    return load_table().sample_rate


def hrir(azimuth_deg: float, elevation_deg: float = 0.0) -> np.ndarray:
    """HRIR pair of the measured direction nearest to (azimuth, elevation).

    Returns:
        (2, taps) float32, row 0 = left ear, at :func:`sample_rate`.
    """
    table = load_table()
    return table.hrir[int(table.nearest(azimuth_deg, elevation_deg))].copy()
