"""Video frames of a scene: the room seen by the pinhole camera, one animated sprite per source.

The room is ray-cast per pixel (the first wall, floor or ceiling plane a pixel's ray leaves the
box through, so nothing behind the camera is drawn), textured by its material: hard rooms
(low absorption) have light plaster walls and a glossy tiled floor, absorbent rooms dark fabric
panels and carpet. Sprites are class-specific PIL drawings whose size falls as 1/depth and whose
scale and brightness follow the source's own audio envelope (note onsets flash and enlarge).
Everything is drawn at 2x and box-filtered down.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from PIL import Image, ImageDraw

from avrepro.data.synthetic.scene import MAX_PULSE, Scene, sprite_box

SUPERSAMPLE = 2
_NOISE = np.random.default_rng(20240601).random((256, 256))  # fixed texture, not seed-dependent

# (hard colour, absorbent colour) per surface: left wall, right wall, back wall, floor, ceiling
_COLOURS = np.array([
    [[214, 210, 198], [78, 84, 104]],
    [[214, 210, 198], [78, 84, 104]],
    [[222, 218, 206], [88, 92, 112]],
    [[196, 172, 134], [112, 58, 52]],
    [[236, 236, 232], [168, 166, 158]],
], dtype=float)
_LIGHT = np.array([0.92, 0.92, 1.0, 0.9, 1.0])


def hardness(absorption: float) -> float:
    """Visual hardness in [0, 1]: 1 for absorption <= 0.15 (hard), 0 for >= 0.75 (absorbent)."""
    return float(np.clip((0.75 - absorption) / 0.6, 0.0, 1.0))


def _texture(a: np.ndarray, b: np.ndarray, cell: float) -> np.ndarray:
    """Fixed noise in [0, 1) looked up in world-plane coordinates (a, b) with cells of ``cell`` m."""
    ia = np.floor(a / cell).astype(np.int64) % 256
    ib = np.floor(b / cell).astype(np.int64) % 256
    return _NOISE[ia, ib]


def _grid(a: np.ndarray, b: np.ndarray, pa: float, pb: float, width: np.ndarray) -> np.ndarray:
    """1 on grid lines (periods pa, pb metres, half-width ``width`` metres), else 0."""
    da = np.abs((a + pa / 2) % pa - pa / 2)
    db = np.abs((b + pb / 2) % pb - pb / 2)
    return ((da < width) | (db < width)).astype(float)


def render_background(scene: Scene, supersample: int = SUPERSAMPLE) -> np.ndarray:
    """The empty room as seen by the camera: (H * s, W * s, 3) uint8."""
    cam = scene.camera
    w, d, h = scene.room.dims
    cx, cy, cz = cam.position
    s = supersample
    f = cam.focal
    u = (np.arange(cam.width * s) + 0.5) / s
    v = (np.arange(cam.height * s) + 0.5) / s
    rx = ((u - cam.width / 2) / f)[None, :].repeat(len(v), 0)  # ray direction, forward = 1
    rz = (-(v - cam.height / 2) / f)[:, None].repeat(len(u), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.stack([
            np.where(rx < 0, (0 - cx) / rx, np.inf),
            np.where(rx > 0, (w - cx) / rx, np.inf),
            np.full_like(rx, d - cy),
            np.where(rz < 0, (0 - cz) / rz, np.inf),
            np.where(rz > 0, (h - cz) / rz, np.inf),
        ])
    surf = np.argmin(t, axis=0)
    depth = np.take_along_axis(t, surf[None], 0)[0]  # forward distance of the hit point
    px, py, pz = cx + depth * rx, cy + depth, cz + depth * rz
    # plane coordinates (a along the surface, b across) per surface
    a = np.choose(surf, [py, py, px, px, px])
    b = np.choose(surf, [pz, pz, pz, py, py])
    pix = depth / f  # metres per pixel at the hit point
    hd = hardness(scene.room.absorption)
    fine = _texture(a, b, 0.012)
    coarse = _texture(a + 7.3, b + 3.1, 0.3)
    # hard: plaster walls, glossy 0.5 m floor tiles with grout and sheen, smooth ceiling
    hard_mod = 1 + 0.03 * (fine - 0.5)
    floor_hard = (1 - 0.35 * _grid(a, b, 0.5, 0.5, 0.6 * pix)) * (0.94 + 0.12 * coarse)
    sheen = np.clip(1 - np.abs(rz) / np.sqrt(rx ** 2 + 1 + rz ** 2), 0, 1) ** 6
    hard_mod = np.where(surf == 3, floor_hard + 0.45 * sheen, hard_mod)
    # absorbent: fabric panels (0.6 x 1.2 m, dark seams), carpet speckle, ceiling tiles
    soft_mod = 1 + 0.35 * (fine - 0.5)
    seams = _grid(a, b, 0.6, 1.2, 0.7 * pix)
    soft_mod = np.where(surf <= 2, soft_mod * (1 - 0.4 * seams), soft_mod)
    soft_mod = np.where(surf == 3, 1 + 0.6 * (fine - 0.5), soft_mod)
    soft_mod = np.where(surf == 4, (1 + 0.15 * (fine - 0.5)) * (1 - 0.3 * _grid(a, b, 0.6, 0.6, 0.6 * pix)),
                        soft_mod)
    colour = (hd * _COLOURS[surf, 0] * hard_mod[..., None]
              + (1 - hd) * _COLOURS[surf, 1] * soft_mod[..., None])
    light = _LIGHT[surf] * (0.55 + 0.45 * np.exp(-depth / 10.0))
    # darken the room's edges (hit point within ~1 px of two bounds)
    eps = 1.2 * pix
    near = ((px < eps) | (px > w - eps)).astype(int) + ((py > d - eps)).astype(int) \
        + ((pz < eps) | (pz > h - eps)).astype(int)
    light = light * np.where(near >= 2, 0.55, 1.0)
    return np.clip(colour * light[..., None], 0, 255).round().astype(np.uint8)


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


def _scaled(colour, brightness: float, flash: float) -> tuple[int, int, int]:
    c = np.asarray(colour, float) * brightness
    c = c + (255 - c) * 0.5 * flash
    return tuple(int(round(x)) for x in np.clip(c, 0, 255))


def _class_colour(name: str) -> tuple[int, int, int]:
    crc = zlib.crc32(name.encode())
    return (80 + crc % 160, 80 + (crc >> 8) % 160, 80 + (crc >> 16) % 160)


def draw_sprite(draw: ImageDraw.ImageDraw, name: str, box, brightness: float = 1.0, flash: float = 0.0) -> None:
    """Draw the sprite of class ``name`` filling ``box`` (x0, y0, x1, y1) in pixels."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0

    def p(fx, fy):
        return (x0 + fx * bw, y0 + fy * bh)

    def r(fx0, fy0, fx1, fy1):
        return [p(fx0, fy0), p(fx1, fy1)]

    def col(c):
        return _scaled(c, brightness, flash)

    dark = col((55, 35, 22))
    if name in ("violin", "cello"):
        body = col((205, 115, 45) if name == "violin" else (150, 45, 30))
        draw.ellipse(r(0.0, 0.45, 1.0, 0.97), fill=body)
        draw.ellipse(r(0.12, 0.14, 0.88, 0.58), fill=body)
        draw.rectangle(r(0.42, 0.0, 0.58, 0.3), fill=dark)
        draw.rectangle(r(0.47, 0.3, 0.53, 0.9), fill=col((30, 20, 15)))
        if name == "cello":
            draw.rectangle(r(0.47, 0.9, 0.53, 1.0), fill=col((150, 150, 150)))
    elif name == "flute":
        draw.rounded_rectangle(r(0.0, 0.25, 1.0, 0.75), radius=max(1, bh * 0.2), fill=col((205, 210, 225)))
        for fx in np.linspace(0.3, 0.85, 6):
            draw.ellipse(r(fx - 0.025, 0.38, fx + 0.025, 0.62), fill=col((70, 70, 85)))
        draw.ellipse(r(0.08, 0.38, 0.13, 0.62), fill=col((20, 20, 25)))
    elif name == "trumpet":
        gold = col((235, 190, 50))
        draw.rectangle(r(0.0, 0.42, 0.65, 0.62), fill=gold)
        draw.polygon([p(0.6, 0.42), p(1.0, 0.0), p(1.0, 1.0), p(0.6, 0.62)], fill=gold)
        for fx in (0.22, 0.34, 0.46):
            draw.rectangle(r(fx, 0.1, fx + 0.06, 0.42), fill=col((180, 140, 30)))
    elif name == "acoustic_guitar":
        body = col((215, 170, 105))
        draw.rectangle(r(0.42, 0.0, 0.58, 0.4), fill=col((95, 58, 30)))
        draw.ellipse(r(0.1, 0.3, 0.9, 0.68), fill=body)
        draw.ellipse(r(0.0, 0.45, 1.0, 1.0), fill=body)
        draw.ellipse(r(0.36, 0.5, 0.64, 0.66), fill=col((40, 25, 15)))
    elif name == "piano":
        draw.rectangle(r(0.0, 0.0, 1.0, 1.0), fill=col((25, 25, 30)))
        draw.rectangle(r(0.04, 0.45, 0.96, 0.95), fill=col((240, 240, 232)))
        keys = 10
        for i in range(1, keys):
            fx = 0.04 + 0.92 * i / keys
            draw.line([p(fx, 0.45), p(fx, 0.95)], fill=col((120, 120, 120)), width=1)
            if i % 7 not in (3, 0):
                draw.rectangle(r(fx - 0.02, 0.45, fx + 0.02, 0.72), fill=col((10, 10, 12)))
    elif name == "xylophone":
        draw.rectangle(r(0.0, 0.2, 1.0, 0.3), fill=col((120, 80, 40)))
        draw.rectangle(r(0.0, 0.8, 1.0, 0.9), fill=col((120, 80, 40)))
        bars = ((230, 60, 60), (240, 140, 40), (240, 220, 50), (90, 200, 70),
                (60, 170, 220), (70, 90, 220), (160, 80, 210))
        for i, c in enumerate(bars):
            fx = i / len(bars)
            shrink = 0.25 * i / len(bars)
            draw.rectangle(r(fx + 0.01, shrink, fx + 1 / len(bars) - 0.01, 1.0 - shrink), fill=col(c))
    elif name == "saxophone":
        brass = col((200, 140, 30))
        draw.polygon([p(0.3, 0.0), p(0.52, 0.0), p(0.58, 0.7), p(0.7, 0.8), p(0.78, 0.62),
                      p(0.7, 0.45), p(1.0, 0.38), p(1.0, 0.6), p(0.92, 0.95), p(0.6, 1.0),
                      p(0.36, 0.85)], fill=brass)
        for fy in np.linspace(0.15, 0.65, 5):
            draw.ellipse(r(0.4, fy, 0.5, fy + 0.05), fill=col((90, 60, 15)))
    else:
        draw.ellipse(r(0.0, 0.0, 1.0, 1.0), fill=col(_class_colour(name)))


def _pixel_box(box, width: int, height: int) -> list[int]:
    """Clip a float box to the frame as half-open integer pixel ranges [x0, y0, x1, y1]."""
    x0, y0, x1, y1 = box
    return [int(np.clip(math.floor(x0), 0, width)), int(np.clip(math.floor(y0), 0, height)),
            int(np.clip(math.ceil(x1), 0, width)), int(np.clip(math.ceil(y1), 0, height))]


def render_frames(scene: Scene, stems: np.ndarray, rate: int, fps: int, n_frames: int,
                  background: np.ndarray | None = None) -> tuple[np.ndarray, list[list[list[int]]]]:
    """Frames of the scene, sprites animated by ``stems`` (k, n) (one row per source).

    Returns:
        frames (n_frames, H, W, 3) uint8 and per source the per-frame pixel boxes
        [x0, y0, x1, y1] (half-open, clipped to the frame).
    """
    cam = scene.camera
    s = SUPERSAMPLE
    bg = Image.fromarray(render_background(scene, s) if background is None else background)
    level, onset = envelopes(stems, rate, fps, n_frames)
    depth = [cam.project(src.position)[1] for src in scene.sources]
    order = np.argsort(-np.asarray(depth), kind="stable")  # far to near
    boxes: list[list[list[int]]] = [[] for _ in scene.sources]
    frames = np.empty((n_frames, cam.height, cam.width, 3), dtype=np.uint8)
    # floor shadows below each source (static)
    shade = Image.new("L", bg.size, 0)
    sd = ImageDraw.Draw(shade)
    for src in scene.sources:
        (u, v), dep = cam.project((src.position[0], src.position[1], 0.0))
        if dep > 0.1:
            rw = s * cam.focal * 0.5 * src.size_m[0] / dep
            rh = s * cam.focal * 0.5 * src.size_m[0] * cam.position[2] / dep ** 2
            sd.ellipse([s * u - rw, s * v - rh, s * u + rw, s * v + rh], fill=110)
    bg = Image.composite(Image.new("RGB", bg.size, (0, 0, 0)), bg, shade)
    for i in range(n_frames):
        img = bg.copy()
        draw = ImageDraw.Draw(img)
        for k in order:
            src = scene.sources[k]
            pulse = float(np.clip(0.6 * onset[k, i] + 0.4 * level[k, i], 0, 1))
            box = sprite_box(cam, src.position, src.size_m, 1 + (MAX_PULSE - 1) * pulse)
            draw_sprite(draw, src.name, [c * s for c in box], 0.4 + 0.6 * level[k, i], onset[k, i])
            boxes[k].append(_pixel_box(box, cam.width, cam.height))
        frames[i] = np.asarray(img.reduce(s))
    return frames, boxes
