"""Curation of first-order ambisonics (FOA): is a 4-channel file real ambiX?

The test of the seed paper of the spatial task (Morgado et al., NeurIPS 2018; DESIGN 4.4): after
a low-pass at ``lowpass_hz`` (4 kHz; above it real tetrahedral microphones alias spatially),
keep a clip when ``|E_xyz / E_w - 1| <= tau`` (tau 0.1).

Energy definition used here (neither official repository ships the curation script, so it is
derived from the format): ``E_w = sum_t W(t)^2`` and ``E_xyz = sum_t X(t)^2 + Y(t)^2 + Z(t)^2``,
the *sum* (not the mean) of the three first-order channels' energies, over the whole clip, after
the low-pass. With SN3D normalisation one plane wave from any direction has
``X^2 + Y^2 + Z^2 = W^2`` sample by sample, so the ratio is exactly 1 for a single source and, in
expectation, for any mixture of mutually incoherent arrivals. What the test catches:

- mono copied to 4 channels: ratio 3; N3D-normalised first order: ratio 3; FuMa (W at -3 dB):
  ratio 2; the W channel not first (e.g. FuMa order W, X, Y, Z read as ambiX is *not* caught:
  W stays first; X, Y, Z merely trade places, which no energy test can see);
- stereo upmixed to W/Y only, or W with silent X, Y, Z: ratio well below 1;
- W moved to another channel: the remaining "W" is a dipole, ratio far from 1 for any scene
  with energy off that dipole's axis.

Coherent arrivals from different directions (a source and its early reflections within the
signal's correlation time, a tonal source in a reverberant room) make ``E_xyz`` differ from
``E_w`` in real sound fields too (the particle velocity of a standing wave is not the pressure),
so a small share of genuine reverberant clips can fail at tau 0.1: the report counts them.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.signal import butter, sosfiltfilt

#: W energy below this (per sample, after the low-pass) counts as silence
SILENCE_ENERGY = 1e-10


@functools.lru_cache(maxsize=8)
def _lowpass(rate: int, cutoff: float, order: int = 8) -> np.ndarray:
    return butter(order, cutoff, btype="lowpass", fs=rate, output="sos")


def foa_energies(audio: np.ndarray, rate: int, lowpass_hz: float | None) -> tuple[float, float]:
    """``(E_w, E_xyz)`` of ambiX audio ``(4, T)`` after a zero-phase 8th-order Butterworth
    low-pass at ``lowpass_hz`` (none when it is None or at/above Nyquist)."""
    x = np.asarray(audio, dtype=np.float64)
    if lowpass_hz is not None and 0 < lowpass_hz < rate / 2 and x.shape[-1] > 60:
        x = sosfiltfilt(_lowpass(int(rate), float(lowpass_hz)), x, axis=-1)
    energy = np.sum(x * x, axis=-1)
    return float(energy[0]), float(energy[1:].sum())


def check_foa(
    audio: np.ndarray, rate: int, tau: float = 0.1, lowpass_hz: float | None = 4000.0
) -> tuple[bool, float, str]:
    """Whether ``audio`` ``(4, T)`` float (ambiX: W, Y, Z, X; SN3D) passes ``|E_xyz/E_w - 1| <= tau``.

    Returns:
        ``(ok, ratio, reason)``: ``ratio = E_xyz / E_w`` (NaN when it cannot be computed);
        ``reason`` is empty when ``ok`` and otherwise says why the clip is rejected.
    """
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[0] != 4:
        return (
            False,
            math.nan,
            (f"first-order ambisonics needs 4 channels (W, Y, Z, X), got shape {tuple(audio.shape)}"),
        )
    if audio.shape[1] == 0:
        return False, math.nan, "no samples"
    if not np.isfinite(audio).all():
        return False, math.nan, "NaN or Inf samples"
    if tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    e_w, e_xyz = foa_energies(audio, rate, lowpass_hz)
    band = f" below {lowpass_hz:g} Hz" if lowpass_hz else ""
    if e_w <= SILENCE_ENERGY * audio.shape[1]:
        return False, math.nan, f"W channel silent{band}"
    ratio = e_xyz / e_w
    if abs(ratio - 1.0) <= tau:
        return True, ratio, ""
    return (
        False,
        ratio,
        (
            f"E_xyz/E_w = {ratio:.3f}{band}, |ratio - 1| > tau {tau:g} (ambiX/SN3D "
            f"gives ~1; upmixed mono/stereo, FuMa or N3D scaling or a misplaced W give "
            f"<= 0.3 or >= 2)"
        ),
    )


__all__ = ["check_foa", "foa_energies"]
