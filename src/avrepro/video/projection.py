"""The projection of a 360 video's frames: equirectangular (what the spatial task reads) or the
equi-angular cubemap (EAC) YouTube serves many 360 videos in, converted here to equirectangular.

YouTube's EAC frame (16:9, e.g. 3840x2160 for a 3840x1920 equirect) is a 3x2 grid of cube faces
whose pixels are spaced by equal angles, with a small padding around each face. The layout and
orientation are FFmpeg's ``v360`` filter's (``v360=eac:e``), which reads YouTube's files: top row
left, front, right; bottom row down, back, up, the bottom faces rotated by 270, 90 and 270 degrees;
2 pixels of padding. Directions follow :mod:`avrepro.video.viewpoints` (the centre column is the
front, the left half the left side), so the converted frame lines up with the ambiX sound field as
an equirect upload would.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from avrepro.media import MediaError
from avrepro.video.viewpoints import equirect_directions

PROJECTIONS = ("auto", "equirect", "eac")
EAC_PAD_PX = 2.0  # padding of every face, in pixels of the EAC frame (FFmpeg's v360 model of YouTube's)
EAC_ASPECT = 16 / 9  # 3 faces wide, 2 high, padded: the equirect of the same width is 2:1


def source_projection(width: int, height: int, setting: str, path: str | Path) -> str:
    """``"equirect"`` or ``"eac"``: ``setting`` unless it is ``auto``, else told by the frame's
    aspect (2:1 equirect, 16:9 EAC). :class:`MediaError` naming ``path`` for any other aspect."""
    if setting != "auto":
        return setting
    ratio = width / height
    if abs(ratio - 2.0) < 0.02:
        return "equirect"
    if abs(ratio - EAC_ASPECT) < 0.02:
        return "eac"
    raise MediaError(
        path,
        f"{width}x{height} frames are neither equirectangular (2:1) nor YouTube's equi-angular "
        "cubemap (16:9): not a 360 video this pipeline reads (set the dataset's `projection` "
        "if it is one of the two)",
    )


def eac_to_equirect(frame: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """An EAC frame ``(H, W, 3)`` as an equirect frame of ``out_wh`` (bilinear), same dtype."""
    h, w = frame.shape[:2]
    x0, y0, fx, fy = _eac_sampling((w, h), tuple(out_wh))
    img = frame.astype(np.float32)
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bottom = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    out = top * (1 - fy) + bottom * fy
    return np.clip(np.rint(out), 0, 255).astype(frame.dtype)


@functools.lru_cache(maxsize=4)
def _eac_sampling(src_wh: tuple[int, int], out_wh: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Per equirect pixel of ``out_wh``: the EAC pixel left-above it (``x0``, ``y0``) and the
    bilinear weights (``fx``, ``fy``, shaped for broadcasting over colour)."""
    az, el = equirect_directions(*out_wh)
    az, el = np.meshgrid(np.radians(az), np.radians(el))
    # FFmpeg's axes: x right, y up, z backward
    x, y, z = -np.sin(az) * np.cos(el), np.sin(el), -np.cos(az) * np.cos(el)
    u, v = eac_position(x, y, z, *src_wh)
    w, h = src_wh
    u, v = np.clip(u, 0, w - 1.001), np.clip(v, 0, h - 1.001)
    x0, y0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    return x0, y0, (u - x0)[..., None], (v - y0)[..., None]


def eac_position(x, y, z, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel position (column, row; continuous) in a ``width`` x ``height`` EAC frame of the
    directions ``(x, y, z)`` (x right, y up, z backward)."""
    x, y, z = (np.asarray(a, dtype=np.float64) for a in (x, y, z))
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    on_x, on_y = (ax >= ay) & (ax >= az), (ay > ax) & (ay >= az)
    # (face column, face row, tangent coordinates) of every face, as FFmpeg's layout has them
    # (each face's ratios are used only where its axis dominates: no division by zero there)
    with np.errstate(divide="ignore", invalid="ignore"):
        faces = _faces(x, y, z, on_x, on_y, ~(on_x | on_y))
    col, row = np.zeros_like(x), np.zeros_like(x)
    u_pad, v_pad = EAC_PAD_PX / width, EAC_PAD_PX / height
    for mask, c, r, tu, tv in faces:
        a = 2 / math.pi * np.arctan(tu[mask]) + 0.5
        b = 2 / math.pi * np.arctan(tv[mask]) + 0.5
        col[mask] = ((a + c) * (1 - 2 * u_pad) / 3 + u_pad) * width
        row[mask] = (b * (0.5 - 2 * v_pad) + v_pad + 0.5 * r) * height
    return col, row


def _faces(x, y, z, on_x, on_y, on_z) -> list[tuple]:
    """(mask, face column, face row, u tangent, v tangent) of the six faces."""
    return [
        (on_x & (x > 0), 2, 0, z / x, -y / x),  # right
        (on_x & (x <= 0), 0, 0, z / x, y / x),  # left
        (on_z & (z < 0), 1, 0, -x / z, y / z),  # front
        (on_z & (z >= 0), 1, 1, y / z, -x / z),  # back
        (on_y & (y > 0), 2, 1, -z / y, -x / y),  # up
        (on_y & (y <= 0), 0, 1, -z / y, x / y),  # down
    ]
