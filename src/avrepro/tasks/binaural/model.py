"""Mono2Binaural (Gao & Grauman, CVPR 2019) and its FiLM-conditioned variant.

Both predict a complex mask on the mixture spectrogram STFT(L+R) whose product is the
difference spectrogram STFT(L-R).
"""

from __future__ import annotations

import torch
from torch import nn

from avrepro.nets.resnet import resnet18_trunk
from avrepro.nets.unet import down_block, up_block

VARIANTS = ("backbone", "film", "audio_only")


class VisualNet(nn.Module):
    """ResNet-18 trunk -> 1x1 conv to ``channels`` -> flattened vector.

    Shape: ``(B, 3, H, W) -> (B, channels * H/32 * W/32)``.
    """

    def __init__(self, crop_hw: tuple[int, int], channels: int = 8, weights: str = "none"):
        super().__init__()
        self.trunk, self.weights_note = resnet18_trunk(weights)
        self.reduce = nn.Conv2d(512, channels, 1)
        h, w = (-(-crop_hw[0] // 32), -(-crop_hw[1] // 32))
        self.dim = channels * h * w

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.trunk(frames)).flatten(1)


class Mono2Binaural(nn.Module):
    """Audio U-Net (5 down, 5 up, skips) with the visual vector tiled at the bottleneck.

    Args:
        ngf: base width (published 64): channels 2-ngf-2ngf-4ngf-8ngf-8ngf.
        crop_hw: (height, width) of the input frames.
        visual_channels: channels of the 1x1 conv on the ResNet map (published 8).
        weights: visual trunk initialisation (see :func:`resnet18_trunk`).
        film: if true, the visual vector also scales and shifts every decoder level (FiLM).
    Shape:
        spec ``(B, 2, F, T)`` real/imag of STFT(L+R) with F, T multiples of 32,
        frames ``(B, 3, H, W)`` -> mask ``(B, 2, F, T)`` in [-1, 1].
    """

    def __init__(self, ngf: int, crop_hw: tuple[int, int], visual_channels: int = 8,
                 weights: str = "none", film: bool = False):
        super().__init__()
        self.visual = VisualNet(crop_hw, visual_channels, weights)
        vdim = self.visual.dim
        widths = [ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 8]
        self.down = nn.ModuleList(down_block(cin, cout)
                                  for cin, cout in zip([2] + widths[:-1], widths))
        ups_out = [ngf * 8, ngf * 4, ngf * 2, ngf]
        ups_in = [widths[4] + vdim, ngf * 16, ngf * 8, ngf * 4]
        self.up = nn.ModuleList(up_block(cin, cout) for cin, cout in zip(ups_in, ups_out))
        self.final = up_block(ngf * 2, 2, final=True)
        self.film = nn.ModuleList(nn.Linear(vdim, 2 * c) for c in ups_out) if film else None
        if self.film is not None:
            for layer in self.film:  # start as the identity transform
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        # Start from mono-mono: a zero mask predicts no left-right difference, so training begins
        # at the baseline's error instead of a random mask's (sigmoid(0) * 2 - 1 = 0).
        nn.init.zeros_(self.final[0].weight)
        nn.init.zeros_(self.final[0].bias)

    def forward(self, spec: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        if spec.shape[-2] % 32 or spec.shape[-1] % 32:
            raise ValueError(f"spectrogram (B, 2, F, T) needs F and T divisible by 32, got {tuple(spec.shape)}")
        vis = self.visual(frames)
        skips, x = [], spec
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = torch.cat([x, vis[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        for level, layer in enumerate(self.up):
            x = layer(x)
            if self.film is not None:
                gamma, beta = self.film[level](vis).chunk(2, dim=1)
                x = x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
            x = torch.cat([x, skips[-2 - level]], dim=1)
        return self.final(x) * 2 - 1

    def param_groups(self, lr_visual: float, lr_audio: float) -> list[dict]:
        """Adam groups as in the official code: the visual net at a 10x smaller rate."""
        visual = list(self.visual.parameters())
        ids = {id(p) for p in visual}
        audio = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": visual, "lr": lr_visual}, {"params": audio, "lr": lr_audio}]


def build_model(variant: str, model_cfg: dict, crop_hw: tuple[int, int]) -> Mono2Binaural:
    """Build a binaural variant: ``backbone`` (published), ``film``, ``audio_only`` (FiLM net, blank frame)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown binaural variant '{variant}' (known: {', '.join(VARIANTS)})")
    return Mono2Binaural(model_cfg["ngf"], crop_hw, model_cfg["visual_channels"],
                         model_cfg["weights"], film=variant in ("film", "audio_only"))
