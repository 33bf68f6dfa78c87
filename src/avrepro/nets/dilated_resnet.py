"""Dilated ResNet-18 frame net of The Sound of Pixels: a K-channel feature map per frame.

torchvision's ``BasicBlock`` refuses ``replace_stride_with_dilation``, so the trunk of
:func:`avrepro.nets.resnet.resnet18_trunk` (same weight sources) is dilated in place: in each
stage that should keep its resolution, strided convolutions lose their stride and the 3x3
convolutions after them are dilated instead (the first 3x3 conv of the stage keeps the previous
dilation, so the receptive field grows exactly as with the stride).
"""

from __future__ import annotations

import torch
from torch import nn

from avrepro.nets.resnet import resnet18_trunk

STEM = 4
"""The trunk's children before the residual stages (conv1 bn1 relu maxpool): layer N is child
``STEM + N - 1``."""
OUTPUT_STRIDES = (4, 8, 16, 32)
STAGE_WIDTHS = {1: 64, 2: 128, 3: 256, 4: 512}
"""Channels out of the trunk that ends with residual stage N (layerN; 4 as published)."""


def stride_after(stages: int) -> int:
    """The trunk's stride after residual stage ``stages``: the stem strides 4 before layer1 and
    each later stage x2 (layer1: 4 ... layer4: 32)."""
    return 2 ** (stages + 1)


def _dilate_stage(stage: nn.Module, dilation: int, entry_dilation: int) -> None:
    """Remove the stride of ``stage`` and dilate its 3x3 convs (the strided one by
    ``entry_dilation``, the others by ``dilation``); 1x1 shortcut convs just lose the stride."""
    for module in stage.modules():
        if not isinstance(module, nn.Conv2d):
            continue
        strided = module.stride != (1, 1)
        module.stride = (1, 1)
        if module.kernel_size == (3, 3):
            d = entry_dilation if strided else dilation
            module.dilation, module.padding = (d, d), (d, d)


def dilated_resnet18(
    weights: str = "none", output_stride: int = 16, stages: int = 4
) -> tuple[nn.Sequential, str]:
    """ResNet-18 without pool and classifier, through residual stage ``stages`` (4: layer4, as
    published; 3: up to layer3, about a third of the time at stride 8; 2 or 1: up to layer2 or layer1), at
    ``output_stride`` 4, 8, 16 or 32, at most the stride after the last stage. Every stage that
    would take the stride past it is dilated instead, each by twice the one before.

    Shape: ``(B, 3, H, W) -> (B, STAGE_WIDTHS[stages], ceil(H / s), ceil(W / s))``. Returns the
    trunk and the note on which weights were loaded (see :func:`resnet18_trunk`).
    """
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride}")
    if stages not in STAGE_WIDTHS or output_stride > stride_after(stages):
        reach = "; ".join(
            f"{n}: {', '.join(str(s) for s in OUTPUT_STRIDES if s <= stride_after(n))}" for n in STAGE_WIDTHS
        )
        raise ValueError(f"frame stages and their output strides: {reach}; got {stages} at {output_stride}")
    trunk, note = resnet18_trunk(weights)
    dilation = 1
    for stage in range(2, stages + 1):  # layer1 never strides
        if stride_after(stage) > output_stride:
            _dilate_stage(trunk[STEM + stage - 1], dilation=2 * dilation, entry_dilation=dilation)
            dilation *= 2
    return trunk[: STEM + stages], note


class FrameNet(nn.Module):
    """Dilated ResNet-18 (all four residual stages, or the first 1-3) -> 3x3 conv to K channels.

    :meth:`forward` returns the pre-activation map ``(B, K, n_frames, h, w)``; the model applies
    the sigmoid and pools (max over frames and positions) or keeps every position (sound maps).

    Args:
        channels: K, the number of visual (and audio) feature channels.
        weights: ``none`` | ``imagenet`` | path to a ResNet-18 state dict.
        output_stride: 16 as published (layer4 dilated), 4, 8 or 32.
        stages: the trunk's residual stages, 4 as published, or 1-3 (see :func:`dilated_resnet18`).
    """

    def __init__(self, channels: int = 32, weights: str = "none", output_stride: int = 16, stages: int = 4):
        super().__init__()
        self.features, self.weights_note = dilated_resnet18(weights, output_stride, stages)
        self.fc = nn.Conv2d(STAGE_WIDTHS[stages], channels, kernel_size=3, padding=1)
        self.output_stride, self.stages = output_stride, stages

    def at_output_stride(self, output_stride: int) -> FrameNet:
        """A twin with this net's weights (and mode) at a finer ``output_stride``: the stages past
        it run dilated (atrous) instead of strided, and so does the head: the map holds the same
        features at every cell of the trained map and new ones between them, as DeepLab tests at
        a finer stride than it trains (Chen et al., TPAMI 2018)."""
        if output_stride > self.output_stride:
            raise ValueError(
                f"output_stride {output_stride} is coarser than the trained {self.output_stride}"
            )
        twin = FrameNet(self.fc.out_channels, "none", output_stride, self.stages)
        twin.load_state_dict(self.state_dict())
        d = self.fc.dilation[0] * self.output_stride // output_stride
        twin.fc.dilation, twin.fc.padding = (d, d), (d, d)
        return twin.to(self.fc.weight.device).train(self.training)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, n_frames, 3, H, W)`` -> ``(B, K, n_frames, h, w)``."""
        if frames.dim() != 5:
            raise ValueError(f"expected frames (B, n_frames, 3, H, W), got {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        x = self.features(frames.flatten(0, 1))
        with torch.autocast(x.device.type, enabled=False):  # the K-channel head in fp32
            x = self.fc(x.float())
        return x.view(b, t, *x.shape[1:]).transpose(1, 2)
