"""The camera's recording chain: the microphone's low cut and the noise floor (issue 17).

Both follow ``synthetic.performance`` (``mic_highpass_hz``, ``noise_snr_db``) when it is
expressive; a clean performance records as before (no filter, no noise, no random draw).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfilt

from avrepro.data.synthetic.instruments import expressive


def draw_recording(rng: np.random.Generator, performance: dict | None) -> dict | None:
    """The clip's microphone low cut (Hz) and noise floor (dB below the clip's RMS), or None
    for a clean recording."""
    if not expressive(performance):
        return None
    return {
        "mic_highpass_hz": float(rng.uniform(*performance["mic_highpass_hz"])),
        "noise_snr_db": float(rng.uniform(*performance["noise_snr_db"])),
    }


def microphone(signal: np.ndarray, fs: int, recording: dict | None) -> np.ndarray:
    """``signal`` (..., n) through the microphone's 2nd-order Butterworth low cut (causal, so a
    response filtered alone equals the rendered signal filtered)."""
    if recording is None:
        return signal
    sos = butter(2, recording["mic_highpass_hz"], btype="highpass", fs=fs, output="sos")
    return sosfilt(sos, signal, axis=-1)


def pink_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Independent pink (1/f power) noise along the last axis (unscaled)."""
    n = shape[-1]
    spectrum = np.fft.rfft(rng.standard_normal(shape), axis=-1)
    f = np.arange(spectrum.shape[-1], dtype=np.float64)
    spectrum *= 1.0 / np.sqrt(np.maximum(f, 1.0))
    return np.fft.irfft(spectrum, n, axis=-1)


def with_noise_floor(
    rng: np.random.Generator, signal: np.ndarray, fs: int, recording: dict | None
) -> np.ndarray:
    """``signal`` (channels, n) plus the room's pink noise per channel, recorded through the same
    microphone low cut, ``noise_snr_db`` below the signal's RMS."""
    if recording is None:
        return signal
    rms = float(np.sqrt(np.mean(np.asarray(signal, np.float64) ** 2)))
    noise = microphone(pink_noise(rng, signal.shape), fs, recording)
    noise /= np.sqrt(np.mean(noise**2, axis=-1, keepdims=True)) + 1e-12
    return signal + rms * 10 ** (-recording["noise_snr_db"] / 20) * noise
