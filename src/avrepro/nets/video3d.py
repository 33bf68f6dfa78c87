"""3-D convolutional video blocks (the Multisensory / 3-D ResNet family).

The residual block follows the official Multisensory network: conv-BN-ReLU (strided), conv,
add the shortcut (identity, strided pooling or a 1x1x1 conv), then BN-ReLU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

Triple = Sequence[int] | int


def _triple(v: Triple) -> tuple[int, int, int]:
    if isinstance(v, int):
        return (v, v, v)
    t = tuple(int(x) for x in v)
    if len(t) != 3:
        raise ValueError(f"expected an int or 3 ints (time, height, width), got {v!r}")
    return t  # type: ignore[return-value]


def conv_bn_relu3d(cin: int, cout: int, kernel: Triple, stride: Triple = 1) -> nn.Sequential:
    """Conv3d ('same' padding, no bias) -> BatchNorm3d -> ReLU."""
    k = _triple(kernel)
    return nn.Sequential(
        nn.Conv3d(cin, cout, k, _triple(stride), tuple(x // 2 for x in k), bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class ResBlock3d(nn.Module):
    """3x3x3 residual block. Shape: ``(B, cin, T, H, W) -> (B, cout, ceil(T/st), ceil(H/sh), ceil(W/sw))``."""

    def __init__(self, cin: int, cout: int, stride: Triple = 1, kernel: Triple = 3):
        super().__init__()
        k, s = _triple(kernel), _triple(stride)
        self.conv1 = conv_bn_relu3d(cin, cout, k, s)
        self.conv2 = nn.Conv3d(cout, cout, k, 1, tuple(x // 2 for x in k), bias=False)
        if cin == cout and s == (1, 1, 1):
            self.short: nn.Module = nn.Identity()
        elif cin == cout:
            self.short = nn.MaxPool3d(1, s)
        else:
            self.short = nn.Conv3d(cin, cout, 1, s, bias=False)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv2(self.conv1(x)) + self.short(x)))


class VideoStem3d(nn.Module):
    """conv1 (``width``, ``kernel``, ``stride``) -> max pool [1,3,3] / [1,2,2] -> two residual
    blocks (the second with ``block_stride``): the video half of the Multisensory net before fusion.

    Shape: ``(B, 3, T, H, W) -> (B, width, T', H', W')``.
    """

    def __init__(
        self,
        width: int,
        kernel: Triple = (5, 7, 7),
        stride: Triple = (2, 2, 2),
        block_stride: Triple = (2, 2, 2),
    ):
        super().__init__()
        self.conv1 = conv_bn_relu3d(3, width, kernel, stride)
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.blocks = nn.Sequential(ResBlock3d(width, width), ResBlock3d(width, width, block_stride))
        self.out_channels = width

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 5 or frames.shape[1] != 3:
            raise ValueError(f"VideoStem3d expects (B, 3, T, H, W) frames, got shape {tuple(frames.shape)}")
        return self.blocks(self.pool(self.conv1(frames)))
