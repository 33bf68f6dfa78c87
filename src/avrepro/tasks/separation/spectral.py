"""Spectrograms, mask targets and mask-to-waveform reconstruction of the separation task.

STFT as the official code (librosa defaults): Hann window of ``n_fft`` samples, centred,
``hop`` samples apart; a window of ``hop * (T - 1) + hop - 1`` samples gives T frames
(65,535 samples, hop 256 -> 256 frames). Everything runs on the batch's device.
"""

from __future__ import annotations

import torch

from avrepro.audio.stft import istft, stft
from avrepro.audio.warp import unwarp, warp

EPS = 1e-10  # added to |mix| before the log and the ratio (as the official code)


def spec(x: torch.Tensor, acfg: dict) -> torch.Tensor:
    """Complex STFT ``(..., L) -> (..., n_fft/2 + 1, T)``."""
    return stft(x, acfg["n_fft"], acfg["hop"], acfg["n_fft"])


def waveform(s: torch.Tensor, acfg: dict, length: int) -> torch.Tensor:
    """Inverse STFT ``(..., F, T) -> (..., length)``, clipped to [-1, 1] (as the official code)."""
    return istft(s, acfg["n_fft"], acfg["hop"], acfg["n_fft"], length).clamp(-1.0, 1.0)


def frames_of(acfg: dict) -> int:
    """STFT frames of one window."""
    return 1 + acfg["window"] // acfg["hop"]


def net_bins(acfg: dict) -> int:
    """Frequency rows the net sees: ``warp_bins`` with the log-frequency warp, else the STFT's
    ``n_fft / 2 + 1`` bins."""
    return acfg["warp_bins"] if acfg["log_freq"] else acfg["n_fft"] // 2 + 1


def to_net(mag: torch.Tensor, acfg: dict) -> torch.Tensor:
    """Linear magnitudes ``(B, C, F, T)`` -> what the net sees (log-frequency warped)."""
    return warp(mag, acfg["warp_bins"]) if acfg["log_freq"] else mag.float()


def to_linear(mask: torch.Tensor, acfg: dict) -> torch.Tensor:
    """Masks on the net's axis ``(B, C, bins, T)`` -> linear frequency ``(B, C, F, T)``."""
    return unwarp(mask, acfg["n_fft"] // 2 + 1) if acfg["log_freq"] else mask.float()


def prepare(audio: torch.Tensor, acfg: dict) -> dict[str, torch.Tensor]:
    """Mixture and source spectrograms of a batch of sources.

    Args:
        audio: ``(B, N, L)`` sources, already scaled (volume, / N); the mixture is their sum.
    Returns:
        ``mag_mix`` ``(B, 1, bins, T)`` (+ EPS), ``mags`` ``(B, N, bins, T)`` on the net's axis,
        and ``log_mag`` = log(mag_mix), the sound net's input.
    """
    with torch.autocast(audio.device.type, enabled=False):
        audio = audio.float()
        mag_mix = spec(audio.sum(dim=1), acfg).abs()[:, None] + EPS
        mags = spec(audio, acfg).abs()
        mag_mix, mags = to_net(mag_mix, acfg), to_net(mags, acfg)
        return {"mag_mix": mag_mix, "mags": mags, "log_mag": torch.log(mag_mix)}


def mask_targets(
    mags: torch.Tensor, mag_mix: torch.Tensor, kind: str, lcfg: dict
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training targets and loss weights, computed after the warp (as the official code).

    ``binary``: ``|S_n| > 0.5 |mix|``; ``ratio``: ``|S_n| / |mix|`` clamped to
    ``[0, ratio_clip]``. Weight: ``clamp(log1p |mix|, weight_min, weight_max)`` when
    ``lcfg["weighted"]``, else 1. Shapes: mags ``(B, N, F, T)``, mag_mix ``(B, 1, F, T)``.
    """
    if kind == "binary":
        target = (mags > 0.5 * mag_mix).float()
    elif kind == "ratio":
        target = (mags / mag_mix).clamp(0.0, lcfg["ratio_clip"])
    else:
        raise ValueError(f"unknown mask kind '{kind}' (binary | ratio)")
    if lcfg["weighted"]:
        weight = torch.log1p(mag_mix).clamp(lcfg["weight_min"], lcfg["weight_max"])
    else:
        weight = torch.ones_like(mag_mix)
    return target, weight.expand_as(target)


def apply_masks(masks: torch.Tensor, mix: torch.Tensor, acfg: dict, length: int) -> torch.Tensor:
    """Masked mixture magnitude with the mixture's phase -> waveforms.

    Shape: masks ``(B, N, F, T)`` real on the linear axis, mix ``(B, F, T)`` complex ->
    ``(B, N, length)``.
    """
    return waveform(masks.float() * mix[:, None], acfg, length)
