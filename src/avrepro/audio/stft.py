"""STFT helpers computed on the batch's device (the cache stores waveforms, not spectrograms)."""

from __future__ import annotations

import torch

_WINDOWS: dict[tuple, torch.Tensor] = {}


def hann(win: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Periodic Hann window (as librosa/scipy ``get_window('hann')``), cached per device."""
    key = (win, str(device))
    if key not in _WINDOWS:
        _WINDOWS[key] = torch.hann_window(win, periodic=True, device=device)
    return _WINDOWS[key]


def stft(x: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """Centred complex STFT.

    Shape: ``(..., T)`` -> ``(..., n_fft // 2 + 1, 1 + T // hop)`` complex.
    """
    lead = x.shape[:-1]
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]).float(),
        n_fft=n_fft,
        hop_length=hop,
        win_length=win,
        window=hann(win, x.device),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, n_fft: int, hop: int, win: int, length: int) -> torch.Tensor:
    """Inverse of :func:`stft`. Shape: ``(..., F, frames)`` complex -> ``(..., length)``."""
    lead = spec.shape[:-2]
    x = torch.istft(
        spec.reshape(-1, *spec.shape[-2:]),
        n_fft=n_fft,
        hop_length=hop,
        win_length=win,
        window=hann(win, spec.device),
        center=True,
        length=length,
    )
    return x.reshape(*lead, length)


def to_realimag(spec: torch.Tensor) -> torch.Tensor:
    """Complex ``(B, F, T)`` -> real ``(B, 2, F, T)`` (real, imaginary channels)."""
    return torch.stack((spec.real, spec.imag), dim=1)


def from_realimag(x: torch.Tensor) -> torch.Tensor:
    """Real ``(B, 2, F, T)`` -> complex ``(B, F, T)``."""
    return torch.complex(x[:, 0].float(), x[:, 1].float())
