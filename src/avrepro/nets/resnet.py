"""ResNet-18 visual trunk with a configurable source of initial weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18


def resnet18_trunk(weights: str = "none") -> tuple[nn.Module, str]:
    """ResNet-18 without its average pool and classifier: ``(B, 3, H, W) -> (B, 512, H/32, W/32)``.

    Args:
        weights: ``"imagenet"`` (torchvision download; offline it falls back to random init
            with a warning), ``"none"`` (random init) or a path to a ResNet-18 state dict.
    Returns:
        the trunk and a note saying which weights were actually used (recorded in the run).
    """
    net = resnet18(weights=None)
    note = "random init"
    if weights == "imagenet":
        try:
            state = ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
            net.load_state_dict(state)
            note = "ImageNet (torchvision IMAGENET1K_V1)"
        except Exception as exc:  # offline: URLError, socket errors, ...
            note = (
                "ImageNet weights requested but unavailable "
                f"({exc.__class__.__name__}); trained from random init"
            )
            warnings.warn(note, RuntimeWarning, stacklevel=2)
    elif weights != "none":
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ResNet-18 weights file not found (model.weights)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if [k for k in missing if not k.startswith("fc.")]:
            raise ValueError(f"{path}: not a ResNet-18 state dict (missing {missing[:3]}...)")
        note = f"weights from {path}"
    return nn.Sequential(*list(net.children())[:-2]), note
