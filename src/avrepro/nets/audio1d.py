"""1-D convolutional audio trunk on raw waveforms (the Multisensory sound network family).

Owens & Efros (ECCV 2018) feed mu-law-compressed samples to a strided 1-D conv (64 channels,
kernel 65, stride 4), a max pool of 4, then residual blocks (128, 128, 256 channels, kernel 15,
stride 4). The widths and kernels are arguments here so that small profiles can shrink them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def mu_law(x: torch.Tensor, mu: float = 255.0) -> torch.Tensor:
    """Mu-law compression ``sign(x) log(1 + mu |x|) / log(1 + mu)`` (input in [-1, 1])."""
    return torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)


class ResBlock1d(nn.Module):
    """Residual block: conv-BN-ReLU (strided), conv, add the shortcut, then BN-ReLU.

    The shortcut is the identity, a strided max pool (same width), or a strided 1x1 conv
    (new width), so the block keeps the post-addition normalisation of the official network.

    Shape: ``(B, cin, L) -> (B, cout, ceil(L / stride))``.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1):
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Sequential(
            nn.Conv1d(cin, cout, kernel, stride, pad, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)
        )
        self.conv2 = nn.Conv1d(cout, cout, kernel, 1, pad, bias=False)
        if cin == cout and stride == 1:
            self.short: nn.Module = nn.Identity()
        elif cin == cout:
            self.short = nn.MaxPool1d(1, stride)
        else:
            self.short = nn.Conv1d(cin, cout, 1, stride, bias=False)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        s = self.short(x)
        n = min(y.shape[-1], s.shape[-1])
        return torch.relu(self.bn(y[..., :n] + s[..., :n]))


class WaveformTrunk(nn.Module):
    """Mu-law -> conv (``widths[0]``, ``kernel1``, ``stride1``) -> max pool ``pool`` ->
    one residual block per further width (``kernel``, ``stride``).

    Args:
        widths: channels of the first conv then of each residual block (paper: 64, 128, 128, 256).
        kernel1, stride1, pool: first conv and pool (paper: 65, 4, 4).
        kernel, stride: residual blocks (paper: 15, 4).
        mu: mu-law parameter (paper: 255).
    Shape:
        ``(B, N)`` samples in [-1, 1] -> ``(B, widths[-1], L)`` with
        ``L ~ N / (stride1 * pool * stride ** (len(widths) - 1))``.
    """

    def __init__(
        self,
        widths: Sequence[int],
        kernel1: int = 65,
        stride1: int = 4,
        pool: int = 4,
        kernel: int = 15,
        stride: int = 4,
        mu: float = 255.0,
    ):
        super().__init__()
        if len(widths) < 1:
            raise ValueError("WaveformTrunk needs at least one width")
        self.mu = mu
        self.conv1 = nn.Sequential(
            nn.Conv1d(1, widths[0], kernel1, stride1, kernel1 // 2, bias=False),
            nn.BatchNorm1d(widths[0]),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool1d(pool, pool, ceil_mode=True) if pool > 1 else nn.Identity()
        pairs = zip(widths[:-1], widths[1:], strict=False)
        self.blocks = nn.Sequential(*(ResBlock1d(cin, cout, kernel, stride) for cin, cout in pairs))
        self.out_channels = widths[-1]

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        if samples.dim() != 2:
            raise ValueError(f"WaveformTrunk expects (B, N) samples, got shape {tuple(samples.shape)}")
        x = mu_law(samples.clamp(-1, 1), self.mu)[:, None]
        return self.blocks(self.pool(self.conv1(x)))
