"""First-order ambisonics (FOA) in the ambiX convention: encode, room impulse responses, rotate.

ambiX = ACN channel order ``W, Y, Z, X`` with SN3D normalisation. A plane wave ``s`` arriving
from azimuth ``az`` (counter-clockwise from the front seen from above, +90 deg = left) and
elevation ``el`` (up) is encoded as::

    W = s,  Y = s sin(az) cos(el),  Z = s sin(el),  X = s cos(az) cos(el)

so for one plane wave ``X^2 + Y^2 + Z^2 = W^2`` (the identity behind the curation test in
:mod:`avrepro.data.curation`). Directions follow the synthetic scenes' world frame (x right,
y forward, z up; see :mod:`avrepro.data.synthetic.scene`): the unit vector of ``(az, el)`` is
``(-sin az cos el, cos az cos el, sin el)``, i.e. the dipoles point front (X), left (Y), up (Z).

Rotations act on the three dipole channels as on a vector in (front, left, up) coordinates and
leave W alone. :func:`rotate` turns the sound field; :func:`rotate_toward` re-orients it so that a
given direction (a camera's viewing direction) becomes the front, as the perspective crops of
:mod:`avrepro.video.viewpoints` do for the picture.
"""

from __future__ import annotations

import math

import numpy as np

#: ambiX channel names in file order (ACN)
CHANNELS = ("W", "Y", "Z", "X")
SPEED_OF_SOUND = 343.0


def sn3d_gains(azimuth_deg, elevation_deg) -> np.ndarray:
    """SN3D first-order gains ``(..., 4)`` in ACN order ``[W, Y, Z, X]`` for each direction."""
    az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    el = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    az, el = np.broadcast_arrays(az, el)
    return np.stack([np.ones_like(az), np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)], axis=-1)


def encode(signal: np.ndarray, azimuth_deg: float, elevation_deg: float = 0.0) -> np.ndarray:
    """Encode a mono ``signal`` (T,) as a plane wave from one direction -> ``(4, T)`` ambiX."""
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise ValueError(f"encode: expected a mono signal of shape (T,), got {signal.shape}")
    return sn3d_gains(azimuth_deg, elevation_deg)[:, None] * signal[None, :]


def directions(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World offsets ``(3, n)`` (x right, y forward, z up) -> (azimuth deg, elevation deg, distance)."""
    x, y, z = np.asarray(vectors, dtype=np.float64)
    dist = np.sqrt(x * x + y * y + z * z)
    return (np.degrees(np.arctan2(-x, y)), np.degrees(np.arctan2(z, np.hypot(x, y))), dist)


def foa_rir(
    images: np.ndarray,
    damping: np.ndarray,
    listener,
    fs: int,
    n_samples: int,
    reference_distance: float,
    c: float = SPEED_OF_SOUND,
) -> np.ndarray:
    """FOA room impulse response of one source from its image sources.

    The same propagation as the binaural RIRs of :func:`avrepro.data.synthetic.room.binaural_rir`
    (delay distance / c with linear-interpolation fractional delays, gain
    ``damping * reference_distance / distance``), with each image's arrival direction encoded by
    its SN3D gains instead of an HRIR pair.

    Args:
        images: (3, n) image-source positions; damping: (n,) amplitude factors.
        listener: the microphone position (3,).
    Returns:
        (4, n_samples) float32 ambiX RIR.
    """
    rel = np.asarray(images, dtype=np.float64) - np.asarray(listener, dtype=np.float64).reshape(3, 1)
    az, el, dist = directions(rel)
    dist = np.maximum(dist, 0.1)
    delay = dist / c * fs
    keep = delay < n_samples - 1
    gains = (
        sn3d_gains(az[keep], el[keep])
        * (np.asarray(damping, float)[keep] * (reference_distance / dist[keep]))[:, None]
    )
    i0 = np.floor(delay[keep]).astype(np.int64)
    frac = delay[keep] - i0
    out = np.zeros((4, n_samples), dtype=np.float64)
    for ch in range(4):
        acc = np.bincount(i0, weights=gains[:, ch] * (1 - frac), minlength=n_samples + 1)
        acc[1:] += np.bincount(i0, weights=gains[:, ch] * frac, minlength=n_samples + 1)[:-1]
        out[ch] = acc[:n_samples]
    return out.astype(np.float32)


def rotation_matrix(yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """3x3 rotation of (front, left, up) vectors: pitch about the left axis (positive lifts the
    front upward), then yaw about the up axis (positive turns front toward left)."""
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    yaw = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    pitch = np.array([[math.cos(b), 0.0, -math.sin(b)], [0.0, 1.0, 0.0], [math.sin(b), 0.0, math.cos(b)]])
    return yaw @ pitch


def _apply(foa: np.ndarray, rot: np.ndarray) -> np.ndarray:
    foa = np.asarray(foa)
    if foa.ndim < 1 or foa.shape[0] != 4:
        raise ValueError(f"FOA audio must have 4 channels (W, Y, Z, X) first, got shape {foa.shape}")
    dtype = foa.dtype if np.issubdtype(foa.dtype, np.floating) else np.float64
    xyz = np.stack([foa[3], foa[1], foa[2]]).astype(np.float64)  # (front, left, up)
    out = np.tensordot(rot, xyz, axes=(1, 0))
    return np.stack([foa[0], out[1], out[2], out[0]]).astype(dtype)


def rotate(foa: np.ndarray, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """Rotate the sound field ``(4, ...)``: a source at (0, 0) moves to (yaw_deg, pitch_deg).

    A pure yaw moves every source from azimuth ``az`` to ``az + yaw_deg`` at the same elevation.
    """
    return _apply(foa, rotation_matrix(yaw_deg, pitch_deg))


def rotate_toward(foa: np.ndarray, azimuth_deg: float, elevation_deg: float = 0.0) -> np.ndarray:
    """Re-orient the sound field ``(4, ...)`` so that direction ``(azimuth_deg, elevation_deg)``
    becomes the front (the inverse of :func:`rotate` by that direction): what a microphone
    turned toward that direction, without roll, would have recorded."""
    return _apply(foa, rotation_matrix(azimuth_deg, elevation_deg).T)


__all__ = [
    "CHANNELS",
    "directions",
    "encode",
    "foa_rir",
    "rotate",
    "rotate_toward",
    "rotation_matrix",
    "sn3d_gains",
]
