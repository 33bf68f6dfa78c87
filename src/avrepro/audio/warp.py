"""Log-frequency warp of spectrograms (The Sound of Pixels) and its inverse.

A linear-frequency spectrogram ``(B, C, F, T)`` (row 0 = lowest frequency) is resampled onto
``bins`` rows whose normalised coordinate ``y`` in [-1, 1] reads the linear axis at

    y_lin = (21 ** ((y + 1) / 2) - 11) / 10           (warp: low frequencies get more rows)

and the inverse reads the warped axis at ``y_w = 2 log(10 y + 11) / log(21) - 1`` (unwarp).
Both end points map to themselves (-1 -> -1, 1 -> 1); the time axis is unchanged.

Sampling uses :func:`torch.nn.functional.grid_sample` with bilinear interpolation and
``align_corners=True``: the grid is ``linspace(-1, 1, n)`` along both axes, so with
``align_corners=True`` the grid's end points fall on the centres of the first and last rows and
columns and every time column is read exactly (no blur along time). This is also what the
official code's ``grid_sample`` call did in the PyTorch releases it was written for (before 1.3
the only behaviour was the one now named ``align_corners=True``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ALIGN_CORNERS = True
BASE = 21.0

_GRIDS: dict[tuple, torch.Tensor] = {}


def warp_coordinate(y: torch.Tensor) -> torch.Tensor:
    """Linear-axis coordinate read by warped row coordinate ``y`` (both in [-1, 1])."""
    return (torch.pow(BASE, (y + 1) / 2) - 11) / 10


def unwarp_coordinate(y: torch.Tensor) -> torch.Tensor:
    """Warped-axis coordinate read by linear row coordinate ``y``: inverse of
    :func:`warp_coordinate`."""
    return torch.log(y * 10 + 11) / math.log(BASE) * 2 - 1


def grid(rows: int, cols: int, warp: bool, device: torch.device | str = "cpu") -> torch.Tensor:
    """Sampling grid ``(1, rows, cols, 2)`` (x = time, y = frequency) for ``grid_sample``.

    ``warp=True``: output rows on the log axis reading a linear spectrogram; ``False``: output
    rows on the linear axis reading a warped one. Cached per (rows, cols, warp, device).
    """
    key = (rows, cols, warp, str(device))
    if key not in _GRIDS:
        y = torch.linspace(-1, 1, rows, dtype=torch.float64)
        y = warp_coordinate(y) if warp else unwarp_coordinate(y)
        x = torch.linspace(-1, 1, cols, dtype=torch.float64)
        gy, gx = torch.meshgrid(y, x, indexing="ij")
        _GRIDS[key] = torch.stack((gx, gy), dim=-1)[None].float().to(device)
    return _GRIDS[key]


def _sample(x: torch.Tensor, rows: int, warp: bool) -> torch.Tensor:
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, F, T) spectrogram, got shape {tuple(x.shape)}")
    g = grid(rows, x.shape[-1], warp, x.device).expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x.float(), g, mode="bilinear", padding_mode="border", align_corners=ALIGN_CORNERS)


def warp(x: torch.Tensor, bins: int) -> torch.Tensor:
    """Linear-frequency ``(B, C, F, T)`` -> log-frequency ``(B, C, bins, T)``."""
    return _sample(x, bins, warp=True)


def unwarp(x: torch.Tensor, freq_bins: int) -> torch.Tensor:
    """Log-frequency ``(B, C, bins, T)`` -> linear-frequency ``(B, C, freq_bins, T)``."""
    return _sample(x, freq_bins, warp=False)
