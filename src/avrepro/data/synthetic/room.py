"""Binaural room impulse responses: pyroomacoustics image sources + measured KEMAR HRIRs.

pyroomacoustics computes the image sources of a shoebox room (positions, reflection order,
wall damping); each image then arrives at the head from its own direction and is filtered by
the HRIR pair measured nearest to that direction, delayed by distance / c and attenuated by
damping / distance. The head looks along +y (see :mod:`.scene` for the frame).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import fftconvolve

from avrepro.audio.hrtf import load_table

SPEED_OF_SOUND = 343.0
#: amplitude convention of the RIRs: gain = damping * REFERENCE_DISTANCE_M / distance, i.e. unit
#: direct-path gain at 10 m. Any constant is physically equivalent (the clip gain rescales the
#: mix); 10 m keeps the dry stems, which share the clip gain, below the mix's peak in most clips.
REFERENCE_DISTANCE_M = 10.0


def sabine_rt60(dims, absorption: float) -> float:
    """Sabine reverberation time 0.161 V / (S a) in seconds."""
    w, d, h = dims
    volume = w * d * h
    surface = 2 * (w * d + w * h + d * h)
    return 0.161 * volume / (surface * absorption)


def image_order(dims, rt60: float, cap: int, c: float = SPEED_OF_SOUND) -> int:
    """Image-source order whose image 'diamond' holds a sphere of radius c * rt60, capped at ``cap``.

    Same rule as ``pyroomacoustics.inverse_sabine``.
    """
    pairs = ((dims[0], dims[1]), (dims[0], dims[2]), (dims[1], dims[2]))
    radii = [a * b / math.hypot(a, b) for a, b in pairs]
    return int(max(0, min(cap, math.ceil(c * rt60 / min(radii) - 1))))


def image_sources(
    dims, absorption: float, listener, sources, fs: int, max_order: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Image sources of each source from pyroomacoustics.

    Returns:
        per source ``(positions (3, n), amplitude damping (n,), reflection order (n,))``.
    """
    import pyroomacoustics as pra

    room = pra.ShoeBox(
        list(dims),
        fs=fs,
        materials=pra.Material(float(absorption)),
        max_order=int(max_order),
        air_absorption=False,
        ray_tracing=False,
        use_rand_ism=False,
    )
    for pos in sources:
        room.add_source(list(pos))
    room.add_microphone(np.asarray(listener, float).reshape(3, 1))
    room.image_source_model()
    out = []
    for src in room.sources:
        damping = np.asarray(src.damping, float).reshape(-1, src.images.shape[1])[0]
        out.append((np.asarray(src.images, float), damping, np.asarray(src.orders)))
    return out


def binaural_rir(
    images: np.ndarray, damping: np.ndarray, listener, fs: int, n_samples: int, c: float = SPEED_OF_SOUND
) -> np.ndarray:
    """Sum the HRIR of every image at its delay and gain.

    Args:
        images: (3, n) image-source positions; damping: (n,) amplitude factors.
    Returns:
        (2, n_samples) float32, row 0 = left ear. Gain = damping * REFERENCE_DISTANCE_M / distance;
        fractional delays by linear interpolation between neighbouring samples.
    """
    table = load_table(fs)
    rel = images - np.asarray(listener, float).reshape(3, 1)
    dist = np.maximum(np.linalg.norm(rel, axis=0), 0.1)
    az = np.degrees(np.arctan2(-rel[0], rel[1]))
    el = np.degrees(np.arctan2(rel[2], np.hypot(rel[0], rel[1])))
    delay = dist / c * fs
    keep = delay < n_samples - 1
    idx = table.nearest(az[keep], el[keep])
    gain = damping[keep] * (REFERENCE_DISTANCE_M / dist[keep])
    i0 = np.floor(delay[keep]).astype(np.int64)
    frac = delay[keep] - i0
    taps = table.hrir.shape[-1]
    pos = (i0[:, None] + np.arange(taps)[None]).ravel()
    out = np.zeros((2, n_samples), dtype=np.float32)
    length = n_samples + taps + 1
    for ear in range(2):
        h = table.hrir[idx, ear].astype(np.float64) * gain[:, None]  # (n, taps)
        acc = np.bincount(pos, weights=(h * (1 - frac)[:, None]).ravel(), minlength=length)
        acc[1:] += np.bincount(pos, weights=(h * frac[:, None]).ravel(), minlength=length)[:-1]
        out[ear] = acc[:n_samples]
    return out


def binaural_rirs(
    dims, absorption: float, listener, sources, fs: int, max_order: int, n_samples: int
) -> np.ndarray:
    """Binaural RIRs (n_sources, 2, n_samples) float32 of every source in the room."""
    imgs = image_sources(dims, absorption, listener, sources, fs, max_order)
    return np.stack([binaural_rir(pos, damp, listener, fs, n_samples) for pos, damp, _ in imgs])


def render_binaural(stems: np.ndarray, rirs: np.ndarray) -> np.ndarray:
    """Sum over sources of stem (k, n) convolved with its RIR (k, 2, m), trimmed to n samples.

    Returns:
        (2, n) float64 binaural mix.
    """
    n = stems.shape[-1]
    out = np.zeros((2, n))
    for stem, rir in zip(stems, rirs, strict=True):
        out += fftconvolve(stem[None].astype(np.float64), rir.astype(np.float64), axes=-1)[:, :n]
    return out


def rt60(rir: np.ndarray, fs: int, decay_db: float = 20.0) -> float:
    """Reverberation time from Schroeder backward integration (T20 extrapolated to 60 dB).

    Energies of all leading channels of ``rir`` (..., n) are summed. The energy decay curve is
    fitted by least squares between -5 dB and -(5 + decay_db) dB. Returns NaN when the curve
    does not decay that far.
    """
    energy = (np.asarray(rir, float).reshape(-1, np.shape(rir)[-1]) ** 2).sum(0)
    edc = np.cumsum(energy[::-1])[::-1]
    if edc[0] <= 0:
        return float("nan")
    with np.errstate(divide="ignore"):
        edc_db = 10 * np.log10(edc / edc[0])
    sel = np.nonzero((edc_db <= -5.0) & (edc_db >= -5.0 - decay_db))[0]
    if len(sel) < 2 or edc_db[sel[-1]] > -5.0 - 0.9 * decay_db:
        return float("nan")
    t = sel / fs
    slope = np.polyfit(t, edc_db[sel], 1)[0]
    return float(-60.0 / slope) if slope < 0 else float("nan")
