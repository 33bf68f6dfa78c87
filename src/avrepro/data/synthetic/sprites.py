"""Source sprites, shared by both cameras: class-specific PIL drawings animated by their audio.

A sprite's scale and brightness follow its source's own audio envelope (:func:`envelopes`):
note onsets flash and enlarge it up to ``MAX_PULSE`` times its size.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from avrepro.data.synthetic.scene import MAX_PULSE, Source

SHADOW_LEVEL = 110  # opacity (of 255) of the static floor shadow below each source


def envelopes(stems: np.ndarray, rate: int, fps: int, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame level and onset strength of each stem, both (k, n_frames) in [0, 1].

    Level = RMS over the frame period centred on the frame time, on a 30 dB scale relative to
    the stem's loudest frame; onset = rise of the level since the previous frame (0.3 -> 1).
    """
    k, n = stems.shape
    half = rate / fps / 2
    rms = np.zeros((k, n_frames))
    for i in range(n_frames):
        c = i * rate / fps
        lo, hi = int(max(0, round(c - half))), int(min(n, round(c + half)))
        if hi > lo:
            rms[:, i] = np.sqrt(np.mean(stems[:, lo:hi].astype(np.float64) ** 2, axis=1))
    peak = np.maximum(rms.max(axis=1, keepdims=True), 1e-12)
    level = np.clip(1 + 20 * np.log10(rms / peak + 1e-9) / 30, 0, 1)
    rise = np.diff(level, axis=1, prepend=0.0)
    return level, np.clip(rise / 0.3, 0, 1)


def pulse_scale(level: float, onset: float) -> float:
    """Sprite scale in [1, MAX_PULSE] at one frame's ``level`` and ``onset`` (see :func:`envelopes`)."""
    pulse = float(np.clip(0.6 * onset + 0.4 * level, 0, 1))
    return 1 + (MAX_PULSE - 1) * pulse


def sprite_brightness(level: float) -> float:
    """Sprite brightness at one frame's ``level``."""
    return 0.4 + 0.6 * level


def animate(
    background: Image.Image,
    sources,
    order,
    level: np.ndarray,
    onset: np.ndarray,
    frame_size: tuple[int, int],
    supersample: int,
    place: Callable[[Source, float], tuple[list, list[int]]],
) -> tuple[np.ndarray, list[list[list[int]]]]:
    """Frames of ``sources`` drawn in ``order`` (far to near) over ``background`` (at
    ``supersample`` x), each box-filtered down to ``frame_size`` (W, H).

    Args:
        level, onset: (k, n_frames) envelopes of the sources (see :func:`envelopes`).
        place: ``place(source, scale)`` -> the boxes to draw the sprite into (at ``supersample``
            x) and its pixel box in the frame.
    Returns:
        frames (n_frames, H, W, 3) uint8 and per source its per-frame pixel boxes.
    """
    n_frames = level.shape[1]
    width, height = frame_size
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    boxes: list[list[list[int]]] = [[] for _ in sources]
    for i in range(n_frames):
        img = background.copy()
        draw = ImageDraw.Draw(img)
        for k in order:
            src = sources[k]
            copies, pixel_box = place(src, pulse_scale(level[k, i], onset[k, i]))
            for box in copies:
                draw_sprite(draw, src.name, box, sprite_brightness(level[k, i]), onset[k, i])
            boxes[k].append(pixel_box)
        frames[i] = np.asarray(img.reduce(supersample))
    return frames, boxes


def with_shadows(background: Image.Image, shade: Image.Image) -> Image.Image:
    """``background`` darkened to black where the ``shade`` mask (mode "L") is set."""
    return Image.composite(Image.new("RGB", background.size, (0, 0, 0)), background, shade)


class _Pen:
    """Draws in fractions ``(fx, fy)`` of a sprite box, colours scaled to a frame's brightness
    and flash."""

    def __init__(self, draw: ImageDraw.ImageDraw, box, brightness: float, flash: float):
        self.draw = draw
        self.x0, self.y0, x1, y1 = box
        self.bw, self.bh = x1 - self.x0, y1 - self.y0
        self.brightness, self.flash = brightness, flash

    def p(self, fx, fy):
        return (self.x0 + fx * self.bw, self.y0 + fy * self.bh)

    def r(self, fx0, fy0, fx1, fy1):
        return [self.p(fx0, fy0), self.p(fx1, fy1)]

    def col(self, colour) -> tuple[int, int, int]:
        c = np.asarray(colour, float) * self.brightness
        c = c + (255 - c) * 0.5 * self.flash
        return tuple(int(round(x)) for x in np.clip(c, 0, 255))


def _bowed(pen: _Pen, name: str) -> None:
    """Violin or cello."""
    d, r, col = pen.draw, pen.r, pen.col
    dark = col((55, 35, 22))
    body = col((205, 115, 45) if name == "violin" else (150, 45, 30))
    d.ellipse(r(0.0, 0.45, 1.0, 0.97), fill=body)
    d.ellipse(r(0.12, 0.14, 0.88, 0.58), fill=body)
    d.rectangle(r(0.42, 0.0, 0.58, 0.3), fill=dark)
    d.rectangle(r(0.47, 0.3, 0.53, 0.9), fill=col((30, 20, 15)))
    if name == "cello":
        d.rectangle(r(0.47, 0.9, 0.53, 1.0), fill=col((150, 150, 150)))


def _flute(pen: _Pen, name: str) -> None:
    d, r, col = pen.draw, pen.r, pen.col
    d.rounded_rectangle(r(0.0, 0.25, 1.0, 0.75), radius=max(1, pen.bh * 0.2), fill=col((205, 210, 225)))
    for fx in np.linspace(0.3, 0.85, 6):
        d.ellipse(r(fx - 0.025, 0.38, fx + 0.025, 0.62), fill=col((70, 70, 85)))
    d.ellipse(r(0.08, 0.38, 0.13, 0.62), fill=col((20, 20, 25)))


def _trumpet(pen: _Pen, name: str) -> None:
    d, p, r, col = pen.draw, pen.p, pen.r, pen.col
    gold = col((235, 190, 50))
    d.rectangle(r(0.0, 0.42, 0.65, 0.62), fill=gold)
    d.polygon([p(0.6, 0.42), p(1.0, 0.0), p(1.0, 1.0), p(0.6, 0.62)], fill=gold)
    for fx in (0.22, 0.34, 0.46):
        d.rectangle(r(fx, 0.1, fx + 0.06, 0.42), fill=col((180, 140, 30)))


def _guitar(pen: _Pen, name: str) -> None:
    d, r, col = pen.draw, pen.r, pen.col
    body = col((215, 170, 105))
    d.rectangle(r(0.42, 0.0, 0.58, 0.4), fill=col((95, 58, 30)))
    d.ellipse(r(0.1, 0.3, 0.9, 0.68), fill=body)
    d.ellipse(r(0.0, 0.45, 1.0, 1.0), fill=body)
    d.ellipse(r(0.36, 0.5, 0.64, 0.66), fill=col((40, 25, 15)))


def _piano(pen: _Pen, name: str) -> None:
    d, p, r, col = pen.draw, pen.p, pen.r, pen.col
    d.rectangle(r(0.0, 0.0, 1.0, 1.0), fill=col((25, 25, 30)))
    d.rectangle(r(0.04, 0.45, 0.96, 0.95), fill=col((240, 240, 232)))
    keys = 10
    for i in range(1, keys):
        fx = 0.04 + 0.92 * i / keys
        d.line([p(fx, 0.45), p(fx, 0.95)], fill=col((120, 120, 120)), width=1)
        if i % 7 not in (3, 0):
            d.rectangle(r(fx - 0.02, 0.45, fx + 0.02, 0.72), fill=col((10, 10, 12)))


_XYLOPHONE_BARS = (
    (230, 60, 60),
    (240, 140, 40),
    (240, 220, 50),
    (90, 200, 70),
    (60, 170, 220),
    (70, 90, 220),
    (160, 80, 210),
)


def _xylophone(pen: _Pen, name: str) -> None:
    d, r, col = pen.draw, pen.r, pen.col
    d.rectangle(r(0.0, 0.2, 1.0, 0.3), fill=col((120, 80, 40)))
    d.rectangle(r(0.0, 0.8, 1.0, 0.9), fill=col((120, 80, 40)))
    bars = _XYLOPHONE_BARS
    for i, c in enumerate(bars):
        fx = i / len(bars)
        shrink = 0.25 * i / len(bars)
        d.rectangle(r(fx + 0.01, shrink, fx + 1 / len(bars) - 0.01, 1.0 - shrink), fill=col(c))


def _saxophone(pen: _Pen, name: str) -> None:
    d, p, r, col = pen.draw, pen.p, pen.r, pen.col
    d.polygon(
        [
            p(0.3, 0.0),
            p(0.52, 0.0),
            p(0.58, 0.7),
            p(0.7, 0.8),
            p(0.78, 0.62),
            p(0.7, 0.45),
            p(1.0, 0.38),
            p(1.0, 0.6),
            p(0.92, 0.95),
            p(0.6, 1.0),
            p(0.36, 0.85),
        ],
        fill=col((200, 140, 30)),
    )
    for fy in np.linspace(0.15, 0.65, 5):
        d.ellipse(r(0.4, fy, 0.5, fy + 0.05), fill=col((90, 60, 15)))


def _disc(pen: _Pen, name: str) -> None:
    """Any other class: a disc in a colour derived from the class name."""
    crc = zlib.crc32(name.encode())
    colour = (80 + crc % 160, 80 + (crc >> 8) % 160, 80 + (crc >> 16) % 160)
    pen.draw.ellipse(pen.r(0.0, 0.0, 1.0, 1.0), fill=pen.col(colour))


_DRAWERS: dict[str, Callable[[_Pen, str], None]] = {
    "violin": _bowed,
    "cello": _bowed,
    "flute": _flute,
    "trumpet": _trumpet,
    "acoustic_guitar": _guitar,
    "piano": _piano,
    "xylophone": _xylophone,
    "saxophone": _saxophone,
}


def draw_sprite(
    draw: ImageDraw.ImageDraw, name: str, box, brightness: float = 1.0, flash: float = 0.0
) -> None:
    """Draw the sprite of class ``name`` filling ``box`` (x0, y0, x1, y1) in pixels."""
    _DRAWERS.get(name, _disc)(_Pen(draw, box, brightness, flash), name)
