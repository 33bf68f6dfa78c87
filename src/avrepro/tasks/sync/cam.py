"""Class-activation maps of the sync net: heat maps, upsampling, and scores against true boxes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from avrepro.metrics.localization import box_share, mass_in_box, pointing_hit, scale_box, union_mask


def heatmap(cam: np.ndarray | torch.Tensor) -> np.ndarray:
    """|CAM| averaged over time: ``(T, h, w) -> (h, w)``, non-negative float64."""
    cam = np.asarray(cam.detach().cpu() if torch.is_tensor(cam) else cam, dtype=np.float64)
    if cam.ndim != 3:
        raise ValueError(f"CAM must be (T, h, w), got shape {cam.shape}")
    return np.abs(cam).mean(axis=0)


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of ``(h, w)`` or ``(T, h, w)`` maps to ``size`` = (H, W) (or
    (T', H, W) for a 3-D input), clipped at zero."""
    x = torch.as_tensor(np.asarray(maps, dtype=np.float32))
    if x.dim() == 2:
        out = F.interpolate(x[None, None], size=tuple(size), mode="bilinear", align_corners=False)[0, 0]
    elif x.dim() == 3:
        out = F.interpolate(x[None, None], size=tuple(size), mode="trilinear", align_corners=False)[0, 0]
    else:
        raise ValueError(f"maps must be (h, w) or (T, h, w), got shape {tuple(x.shape)}")
    return out.clamp_min(0).numpy().astype(np.float64)


def window_boxes(meta: dict, start: int, n_frames: int, size: tuple[int, int]) -> list[list[int]]:
    """Each source's box over the window's frames (the bounding box of its per-frame boxes, which
    pulse with the sound), scaled from ``meta["frame_size"]`` to ``size`` = (W, H)."""
    boxes = []
    for src in meta.get("sources", []):
        per_frame = src.get("boxes") or []
        sel = [b for b in per_frame[start : start + n_frames] if b[2] > b[0] and b[3] > b[1]]
        if not sel:
            continue
        arr = np.asarray(sel, dtype=np.float64)
        union = [arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max()]
        boxes.append(scale_box(union, meta["frame_size"], size))
    return boxes


def display_map(maps: np.ndarray, lo_frac: float = 0.5, percentile: float = 97.0) -> np.ndarray:
    """The map as the official code displays it: rescaled so that its ``percentile`` is 1 and
    ``lo_frac`` of that is 0, clipped to [0, 1] (weak, diffuse activation is not shown)."""
    maps = np.asarray(maps, dtype=np.float64)
    hi = float(np.percentile(maps, percentile))
    lo = lo_frac * hi
    if hi <= lo or not np.isfinite(hi):
        return np.zeros_like(maps)
    return np.clip((maps - lo) / (hi - lo), 0.0, 1.0)


def localization(heat: np.ndarray, boxes: list[list[int]]) -> dict:
    """Scores of a non-negative heat map against the union of ``boxes``.

    Returns:
        ``map_mass_in_box``: share of the displayed map's mass (:func:`display_map`) inside the
        boxes; ``raw_mass_in_box``: the same for the raw map; ``pointing_accuracy``: whether the
        raw map's maximum is inside (pointing game); ``box_share``: the boxes' share of the frame,
        the chance level of all three. NaN everywhere when there is no box.
    """
    keys = ("map_mass_in_box", "raw_mass_in_box", "pointing_accuracy", "box_share")
    if not boxes:
        return dict.fromkeys(keys, float("nan"))
    mask = union_mask(boxes, heat.shape)
    return {
        "map_mass_in_box": mass_in_box(display_map(heat), mask),
        "raw_mass_in_box": mass_in_box(heat, mask),
        "pointing_accuracy": float(pointing_hit(heat, mask)),
        "box_share": box_share(mask, heat.shape),
    }
