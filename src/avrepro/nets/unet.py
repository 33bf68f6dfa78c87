"""Audio U-Net building blocks of the 2.5D Visual Sound family (4x4 stride-2 convs)."""

from __future__ import annotations

from torch import nn


def down_block(cin: int, cout: int) -> nn.Sequential:
    """Conv 4x4 stride 2 -> BatchNorm -> LeakyReLU(0.2): halves height and width."""
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True))


def up_block(cin: int, cout: int, final: bool = False) -> nn.Sequential:
    """Transposed conv 4x4 stride 2 -> BatchNorm -> ReLU (``final``: -> Sigmoid): doubles H, W."""
    if final:
        return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.Sigmoid())
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
