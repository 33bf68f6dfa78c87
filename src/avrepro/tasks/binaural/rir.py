"""Room-impulse-response targets of the geometry-aware model's RIR head.

Target: the log-energy envelope of the scene's binaural RIR, per ear and frequency band, in
time bins of ``bin_seconds`` over the first ``seconds`` of the response, in dB
(``10 log10`` of the band energy, clamped at ``floor_db``), averaged over the clip's sources.

Why this target and not the waveform or the official code's 224x224 magnitude spectrogram:
the fine structure of an RIR (exact reflection times, phases) cannot be read from one frame,
and a linear magnitude spectrogram is dominated by the direct-path peak. The log-energy
envelope keeps what a frame does determine: the direct-path level and delay (source distance),
the early/late balance and decay slope (room size and wall absorption), and the level
difference between the ears per band (source direction), on a scale (dB) where the decaying
tail counts as much as the direct sound. The synthetic generator stores one RIR pair per
source in an arbitrary order that no frame reveals, so the target averages the per-source
band energies instead of picking "the first" source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avrepro.media import read_wav


def rir_shape(rir_cfg: dict) -> tuple[int, int, int]:
    """Target shape ``(ears, bands, time bins)``."""
    bins = int(round(rir_cfg["seconds"] / rir_cfg["bin_seconds"]))
    return 2, len(rir_cfg["bands_hz"]) - 1, bins


def envelope_db(rirs: np.ndarray, sample_rate: int, rir_cfg: dict) -> np.ndarray:
    """Band log-energy envelope of binaural RIRs.

    Args:
        rirs: ``(sources, 2, n)`` float RIRs (row 0 of each pair = left ear).
        sample_rate: Hz.
        rir_cfg: ``{"seconds", "bin_seconds", "bands_hz", "floor_db"}`` (params ``binaural.rir``).
    Returns:
        ``(2, bands, bins)`` float32 dB: the energy of each ear, band and bin (Hann-windowed
        frames of ``bin_seconds`` with a hop of ``bin_seconds``), mean over sources, floored.
    """
    rirs = np.asarray(rirs, dtype=np.float64)
    if rirs.ndim != 3 or rirs.shape[1] != 2:
        raise ValueError(f"expected RIRs of shape (sources, 2, n), got {rirs.shape}")
    _, bands, bins = rir_shape(rir_cfg)
    hop = int(round(rir_cfg["bin_seconds"] * sample_rate))
    n = hop * bins
    x = np.zeros(rirs.shape[:2] + (n,))
    x[..., : min(n, rirs.shape[-1])] = rirs[..., :n]
    frames = x.reshape(*x.shape[:2], bins, hop) * np.hanning(hop + 2)[1:-1]
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # (k, 2, bins, freqs)
    freqs = np.fft.rfftfreq(hop, 1.0 / sample_rate)
    edges = np.asarray(rir_cfg["bands_hz"], dtype=np.float64)
    if np.any(np.diff(edges) <= 0):
        raise ValueError(f"binaural.rir.bands_hz must increase, got {list(edges)}")
    energy = np.stack(
        [
            power[..., (freqs >= lo) & (freqs < hi)].sum(-1)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ],
        axis=-2,
    )  # (k, 2, bands, bins)
    if energy.shape[-2] != bands:
        raise AssertionError("band count mismatch")
    db = 10.0 * np.log10(np.maximum(energy.mean(axis=0), 1e-30))
    return np.maximum(db, rir_cfg["floor_db"]).astype(np.float32)


def clip_rirs(meta: dict | None, raw_dir: Path) -> tuple[np.ndarray, int]:
    """A clip's stored RIRs ``(sources, 2, n)`` and their sample rate, from ``meta["rir"]``
    (a float wav with channels [L, R] per source, relative to the raw dataset directory)."""
    if not meta or not meta.get("rir"):
        raise ValueError("clip has no simulated RIR (meta 'rir'): the RIR head needs the synthetic dataset")
    path = Path(raw_dir) / meta["rir"]
    audio, rate = read_wav(path)
    if audio.shape[0] % 2:
        raise ValueError(f"{path}: {audio.shape[0]} channels, expected [L, R] per source")
    return audio.reshape(-1, 2, audio.shape[-1]), rate


def cache_targets(cache, rir_cfg: dict) -> np.ndarray:
    """RIR targets ``(clips, 2, bands, bins)`` of every clip of a feature cache."""
    out = []
    for i in range(len(cache)):
        try:
            rirs, rate = clip_rirs(cache.meta(i), cache.raw_dir)
        except ValueError as exc:
            raise ValueError(f"{cache.cache_dir} clip {cache.clip_ids[i]}: {exc}") from None
        out.append(envelope_db(rirs, rate, rir_cfg))
    return np.stack(out)
