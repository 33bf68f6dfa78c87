"""Sound net of The Sound of Pixels: a U-Net from a log-magnitude spectrogram to K channels.

Encoder level i (1..L): [LeakyReLU 0.2] -> conv 4x4 stride 2 -> [BatchNorm] (no activation
before the first level, no norm on the first and innermost levels); widths ngf, 2ngf, 4ngf,
8ngf, 8ngf, ... Decoder level i: ReLU -> bilinear x2 upsampling -> conv 3x3 -> BatchNorm, its
input the innermost code or the concatenation [skip, decoder output]; the outermost conv
(with bias, no norm) gives the K output channels at the input's size, left unactivated.

With ``late_upsample`` the outermost level convolves before it upsamples, and the upsampling is
left to the caller (the output is at half the input's size): the Sound of Pixels' synthesizer is
linear, so it can run at half size and upsample its one map per video instead of K, which gives
the same masks as upsampling the K maps first (the outermost conv at full size is most of the
net's time on a CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

UPSAMPLING = {"scale_factor": 2, "mode": "bilinear", "align_corners": True}
"""The decoder's x2 upsampling (the official code's), here and in :func:`upsample2x`."""


def unet_widths(ngf: int, levels: int) -> list[int]:
    """Encoder output widths: ``ngf * min(2 ** i, 8)`` for level i = 0..levels-1."""
    return [ngf * min(2**i, 8) for i in range(levels)]


class SoundUNet(nn.Module):
    """U-Net with ``levels`` downsamplings (published: 7, ngf 64) -> ``channels`` (K) maps.

    Shape: ``(B, 1, F, T)`` -> ``(B, K, F, T)`` (``late_upsample``: ``(B, K, F/2, T/2)``); F and T
    must be multiples of ``2 ** levels``.
    """

    def __init__(self, channels: int = 32, ngf: int = 64, levels: int = 7, late_upsample: bool = False):
        super().__init__()
        if levels < 2:
            raise ValueError(f"the sound U-Net needs at least 2 levels, got {levels}")
        self.levels = levels
        widths = unet_widths(ngf, levels)
        self.input_norm = nn.BatchNorm2d(1)
        down = []
        for i, cout in enumerate(widths):
            cin = 1 if i == 0 else widths[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]  # skips keep their input
            layers.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=False))
            if 0 < i < levels - 1:
                layers.append(nn.BatchNorm2d(cout))
            down.append(nn.Sequential(*layers))
        self.down = nn.ModuleList(down)
        up = []
        for i in reversed(range(levels)):  # innermost first
            cin = widths[i] if i == levels - 1 else 2 * widths[i]
            outer = i == 0
            cout = channels if outer else widths[i - 1]
            layers = [nn.ReLU(inplace=True)]
            if not (outer and late_upsample):
                layers.append(nn.Upsample(**UPSAMPLING))
            layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=outer))
            if not outer:
                layers.append(nn.BatchNorm2d(cout))
            up.append(nn.Sequential(*layers))
        self.up = nn.ModuleList(up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, t = x.shape[-2:]
        step = 2**self.levels
        if f % step or t % step:
            raise ValueError(
                f"spectrogram {f}x{t} is not a multiple of {step} in both axes ({self.levels} U-Net levels)"
            )
        skips = []
        h = self.input_norm(x)
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        h = skips.pop()
        for layer in self.up:
            h = layer(h)  # its in-place ReLU acts on a tensor no skip shares
            if skips:
                h = torch.cat([skips.pop(), h], dim=1)
        return h


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """The decoder's :data:`UPSAMPLING` of the last two axes of a tensor of any rank: what
    :class:`SoundUNet` leaves out with ``late_upsample``."""
    y = F.interpolate(x.reshape(1, -1, *x.shape[-2:]), **UPSAMPLING)
    return y.view(*x.shape[:-2], *y.shape[-2:])
