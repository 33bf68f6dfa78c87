"""Perspective viewpoints of an equirectangular (360) frame: sampling and rendering crops.

Equirect convention (as the synthetic 360 renderer and YouTube-360): column 0 = azimuth +180 deg,
the centre column = azimuth 0 (front), azimuth decreasing to the right (+90 deg = left, a
quarter of the width from the left edge); row 0 = elevation +90 deg. A viewpoint is a pinhole
camera at the sphere's centre looking at ``(yaw_deg, pitch_deg)`` (azimuth, elevation), without
roll, with horizontal and vertical fields of view ``hfov_deg`` and ``vfov_deg``; its crop is
resampled to a fixed ``(h, w)`` grid whatever the fields of view (the aspect ratio of the view
is a data augmentation, as in the AVSA code, which draws ``vfov = aspect * hfov``).
:func:`avrepro.audio.ambisonics.rotate_toward` turns the sound field the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from avrepro.audio.ambisonics import rotation_matrix


@dataclass(frozen=True)
class Viewpoint:
    """Viewing direction (azimuth ``yaw_deg``, elevation ``pitch_deg``) and fields of view."""

    yaw_deg: float
    pitch_deg: float
    hfov_deg: float
    vfov_deg: float


def angular_distance(a: Viewpoint, b: Viewpoint) -> float:
    """Great-circle angle in degrees between two viewing directions."""
    ya, pa, yb, pb = (math.radians(v) for v in (a.yaw_deg, a.pitch_deg, b.yaw_deg, b.pitch_deg))
    c = math.sin(pa) * math.sin(pb) + math.cos(pa) * math.cos(pb) * math.cos(ya - yb)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def sample_viewpoints(
    rng: np.random.Generator,
    k: int,
    yaw_deg=(-180.0, 180.0),
    pitch_deg=(-30.0, 30.0),
    hfov_deg=(25.0, 90.0),
    aspect=(0.75, 4 / 3),
    min_separation_deg: float = 0.0,
    max_tries: int = 100,
) -> list[Viewpoint]:
    """``k`` random viewpoints: yaw and pitch uniform, hfov uniform, aspect (vfov / hfov)
    log-uniform; each centre at least ``min_separation_deg`` from the earlier ones (redrawn up
    to ``max_tries`` times, then kept anyway, so the result is always ``k`` viewpoints)."""
    out: list[Viewpoint] = []
    log_a = (math.log(aspect[0]), math.log(aspect[1]))
    for _ in range(k):
        for _try in range(max_tries):
            hfov = float(rng.uniform(*hfov_deg))
            vp = Viewpoint(
                float(rng.uniform(*yaw_deg)),
                float(rng.uniform(*pitch_deg)),
                hfov,
                min(170.0, hfov * math.exp(float(rng.uniform(*log_a)))),
            )
            if all(angular_distance(vp, o) >= min_separation_deg for o in out):
                break
        out.append(vp)
    return out


def crop_directions(vp: Viewpoint, out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation in degrees, each ``(h, w)``, of every pixel centre of the crop."""
    h, w = out_hw
    tx, ty = math.tan(math.radians(vp.hfov_deg) / 2), math.tan(math.radians(vp.vfov_deg) / 2)
    right = (2 * (np.arange(w) + 0.5) / w - 1) * tx
    up = (1 - 2 * (np.arange(h) + 0.5) / h) * ty
    right, up = np.meshgrid(right, up)
    rays = np.stack([np.ones_like(right), -right, up])  # (front, left, up) in camera coordinates
    front, left, up = np.tensordot(rotation_matrix(vp.yaw_deg, vp.pitch_deg), rays, axes=(1, 0))
    return np.degrees(np.arctan2(left, front)), np.degrees(np.arctan2(up, np.hypot(front, left)))


def _grid(vp: Viewpoint, out_hw: tuple[int, int], width: int, height: int) -> torch.Tensor:
    """grid_sample coordinates (h, w, 2) into the frame padded by one wrapped column per side."""
    az, el = crop_directions(vp, out_hw)
    u = np.mod(0.5 - az / 360.0, 1.0) * width  # continuous pixel coordinates
    v = (0.5 - el / 180.0) * height
    gx = (u + 1.0) / (width + 2) * 2 - 1
    gy = v / height * 2 - 1
    return torch.from_numpy(np.stack([gx, gy], axis=-1).astype(np.float32))


def perspective_crops(frames, viewpoints: list[Viewpoint], out_hw: tuple[int, int]) -> torch.Tensor:
    """Render every viewpoint from equirect ``frames``.

    Args:
        frames: ``(T, H, W, 3)`` uint8 (numpy or tensor) or ``(H, W, 3)`` for one frame.
        viewpoints: K viewpoints.
        out_hw: crop size ``(h, w)``.
    Returns:
        ``(K, T, 3, h, w)`` float32 in [0, 1] (bilinear, wrapping across the left/right seam).
    """
    if torch.is_tensor(frames):
        x = frames
    else:
        arr = np.asarray(frames)
        x = torch.from_numpy(arr if arr.flags.writeable else arr.copy())  # memory maps are read-only
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"equirect frames must be (T, H, W, 3), got {tuple(x.shape)}")
    t, height, width, _ = x.shape
    img = x.permute(0, 3, 1, 2).float() / 255.0
    img = torch.cat([img[..., -1:], img, img[..., :1]], dim=-1)  # wrap one column each side
    grids = torch.stack([_grid(vp, out_hw, width, height) for vp in viewpoints])  # (K, h, w, 2)
    k = len(viewpoints)
    img = img[None].expand(k, -1, -1, -1, -1).reshape(k * t, 3, height, width + 2)
    grids = grids[:, None].expand(-1, t, -1, -1, -1).reshape(k * t, *out_hw, 2)
    out = F.grid_sample(img, grids, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(k, t, 3, *out_hw).clamp(0, 1)


def equirect_directions(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth in degrees of every column centre ``(width,)`` (+180 at the left edge, decreasing to
    the right) and elevation of every row centre ``(height,)`` (+90 at the top) of an equirect
    frame: the inverse of the sampling of :func:`perspective_crops`."""
    az = 180.0 - 360.0 * (np.arange(width) + 0.5) / width
    el = 90.0 - 180.0 * (np.arange(height) + 0.5) / height
    return az, el


def equirect_pixel(yaw_deg: float, pitch_deg: float, width: int, height: int) -> tuple[int, int]:
    """The ``(column, row)`` of an equirect frame whose centre is nearest direction
    ``(yaw_deg, pitch_deg)``."""
    col = int(np.floor(np.mod(0.5 - yaw_deg / 360.0, 1.0) * width)) % width
    row = int(np.clip(np.floor((0.5 - pitch_deg / 180.0) * height), 0, height - 1))
    return col, row


__all__ = [
    "Viewpoint",
    "angular_distance",
    "crop_directions",
    "equirect_directions",
    "equirect_pixel",
    "perspective_crops",
    "sample_viewpoints",
]
