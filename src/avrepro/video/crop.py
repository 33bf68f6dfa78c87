"""Crop sizes of the frames a task's network sees."""

from __future__ import annotations


def crop_hw(frames_cfg: dict) -> tuple[int, int]:
    """``(height, width)`` of a task's frame crops from its ``frames`` section: ``crop_height``
    and ``crop_width``, or a square ``crop_size``."""
    if "crop_size" in frames_cfg:
        size = int(frames_cfg["crop_size"])
        return size, size
    return frames_cfg["crop_height"], frames_cfg["crop_width"]
