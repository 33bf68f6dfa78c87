"""Localization scores of a heat map (sound map, CAM) against a ground-truth box.

Boxes are half-open pixel ranges ``[x0, y0, x1, y1]`` in the heat map's own pixels (rescale a
box drawn on another frame size with :func:`scale_box` first). A heat map is ``(H, W)`` and
non-negative (take ``abs`` or clip first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Box = Sequence[float]


def scale_box(box: Box, from_size: Sequence[int], to_size: Sequence[int]) -> list[int]:
    """Map a half-open box from a ``(width, height)`` frame to another, keeping it half-open:
    x0/y0 round down, x1/y1 round up, so the box never shrinks to nothing."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    x0, y0, x1, y1 = box
    out = [int(np.floor(x0 * sx)), int(np.floor(y0 * sy)), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))]
    w, h = to_size
    return [min(max(out[0], 0), w), min(max(out[1], 0), h), min(max(out[2], 0), w), min(max(out[3], 0), h)]


def _check(heatmap: np.ndarray) -> np.ndarray:
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2:
        raise ValueError(f"heat map must be (H, W), got shape {heatmap.shape}")
    if not np.all(np.isfinite(heatmap)) or heatmap.min() < 0:
        raise ValueError("heat map must be finite and non-negative")
    return heatmap


def box_mask(box: Box, shape: Sequence[int]) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the half-open ``box`` clipped to ``shape``."""
    h, w = shape
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = np.zeros((h, w), dtype=bool)
    mask[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = True
    return mask


def union_mask(boxes: Sequence[Box], shape: Sequence[int]) -> np.ndarray:
    """Union of several boxes as one ``(H, W)`` mask."""
    mask = np.zeros(tuple(shape), dtype=bool)
    for b in boxes:
        mask |= box_mask(b, shape)
    return mask


def pointing_hit(heatmap: np.ndarray, box: Box | np.ndarray) -> bool:
    """Pointing game: is the heat map's maximum inside ``box`` (or a boolean mask)?

    Ties: the first maximum in row-major order. A flat map (all equal) never hits, so a model
    that says nothing cannot score by the tie-break.
    """
    heatmap = _check(heatmap)
    mask = box if isinstance(box, np.ndarray) and box.dtype == bool else box_mask(box, heatmap.shape)
    if heatmap.max() == heatmap.min():
        return False
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return bool(mask[y, x])


def mass_in_box(heatmap: np.ndarray, box: Box | np.ndarray) -> float:
    """Share of the heat map's total mass inside ``box`` (or a boolean mask); 0 for an empty map."""
    heatmap = _check(heatmap)
    mask = box if isinstance(box, np.ndarray) and box.dtype == bool else box_mask(box, heatmap.shape)
    total = heatmap.sum()
    return float(heatmap[mask].sum() / total) if total > 0 else 0.0


def box_share(box: Box | np.ndarray, shape: Sequence[int]) -> float:
    """Fraction of the frame the box covers: the chance level of both scores above (a uniform
    map puts this much mass in the box; a random point lands in it with this probability)."""
    mask = box if isinstance(box, np.ndarray) and box.dtype == bool else box_mask(box, shape)
    return float(mask.mean())
