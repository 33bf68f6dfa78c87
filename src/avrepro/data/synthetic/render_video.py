"""Video frames of a scene: the room seen by the pinhole camera, one animated sprite per source.

The room is ray-cast per pixel (the first wall, floor or ceiling plane a pixel's ray leaves the
box through, so nothing behind the camera is drawn) and textured by its material
(:mod:`.surfaces`). Sprites (:mod:`.sprites`) are class-specific PIL drawings whose size falls
as 1/depth and whose scale and brightness follow the source's own audio envelope (note onsets
flash and enlarge). Everything is drawn at 2x and box-filtered down.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from avrepro.data.synthetic.scene import Scene, Source, sprite_box
from avrepro.data.synthetic.sprites import SHADOW_LEVEL, animate, envelopes, with_shadows
from avrepro.data.synthetic.surfaces import near_bound, nearest_hit, shade_surfaces

SUPERSAMPLE = 2


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
        t = np.stack(
            [
                np.where(rx < 0, (0 - cx) / rx, np.inf),
                np.where(rx > 0, (w - cx) / rx, np.inf),
                np.full_like(rx, d - cy),
                np.where(rz < 0, (0 - cz) / rz, np.inf),
                np.where(rz > 0, (h - cz) / rz, np.inf),
            ]
        )
    surf, depth = nearest_hit(t)  # surface (left, right, back wall, floor, ceiling), forward distance
    px, py, pz = cx + depth * rx, cy + depth, cz + depth * rz
    # plane coordinates (a along the surface, b across) per surface
    a = np.choose(surf, [py, py, px, px, px])
    b = np.choose(surf, [pz, pz, pz, py, py])
    pix = depth / f  # metres per pixel at the hit point
    sheen = np.clip(1 - np.abs(rz) / np.sqrt(rx**2 + 1 + rz**2), 0, 1) ** 6
    eps = 1.2 * pix  # darken the room's edges (hit point within ~1 px of two bounds)
    near = near_bound(px, w, eps) + near_bound(py, d, eps, from_zero=False) + near_bound(pz, h, eps)
    return shade_surfaces(surf, a, b, pix, depth, sheen, near, scene.room.absorption)


def _pixel_box(box, width: int, height: int) -> list[int]:
    """Clip a float box to the frame as half-open integer pixel ranges [x0, y0, x1, y1]."""
    x0, y0, x1, y1 = box
    return [
        int(np.clip(math.floor(x0), 0, width)),
        int(np.clip(math.floor(y0), 0, height)),
        int(np.clip(math.ceil(x1), 0, width)),
        int(np.clip(math.ceil(y1), 0, height)),
    ]


def _floor_shadows(scene: Scene, size: tuple[int, int], s: int) -> Image.Image:
    """The static shadow mask (mode "L", ``size``) below each source, drawn at ``s`` x."""
    cam = scene.camera
    shade = Image.new("L", size, 0)
    sd = ImageDraw.Draw(shade)
    for src in scene.sources:
        (u, v), dep = cam.project((src.position[0], src.position[1], 0.0))
        if dep > 0.1:
            rw = s * cam.focal * 0.5 * src.size_m[0] / dep
            rh = s * cam.focal * 0.5 * src.size_m[0] * cam.position[2] / dep**2
            sd.ellipse([s * u - rw, s * v - rh, s * u + rw, s * v + rh], fill=SHADOW_LEVEL)
    return shade


def render_frames(
    scene: Scene, stems: np.ndarray, rate: int, fps: int, n_frames: int, background: np.ndarray | None = None
) -> tuple[np.ndarray, list[list[list[int]]]]:
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
    bg = with_shadows(bg, _floor_shadows(scene, bg.size, s))

    def place(src: Source, scale: float) -> tuple[list, list[int]]:
        box = sprite_box(cam, src.position, src.size_m, scale)
        return [[c * s for c in box]], _pixel_box(box, cam.width, cam.height)

    return animate(bg, scene.sources, order, level, onset, (cam.width, cam.height), s, place)
