"""The room's surfaces as both cameras see them: ray hits, material textures and lighting.

Hard rooms (low absorption) have light plaster walls and a glossy tiled floor, absorbent rooms
dark fabric panels and carpet. The pinhole view (:mod:`.render_video`) and the 360 view
(:mod:`.render_360`) cast their own rays and shade the hit points with :func:`shade_surfaces`.
"""

from __future__ import annotations

import numpy as np

NOISE = np.random.default_rng(20240601).random((256, 256))  # fixed texture, not seed-dependent

#: (hard colour, absorbent colour) per surface style: left wall, right wall, back wall, floor, ceiling
COLOURS = np.array(
    [
        [[214, 210, 198], [78, 84, 104]],
        [[214, 210, 198], [78, 84, 104]],
        [[222, 218, 206], [88, 92, 112]],
        [[196, 172, 134], [112, 58, 52]],
        [[236, 236, 232], [168, 166, 158]],
    ],
    dtype=float,
)
#: light level per surface style
LIGHT = np.array([0.92, 0.92, 1.0, 0.9, 1.0])
FLOOR, CEILING = 3, 4  # surface styles; styles 0-2 are walls


def hardness(absorption: float) -> float:
    """Visual hardness in [0, 1]: 1 for absorption <= 0.15 (hard), 0 for >= 0.75 (absorbent)."""
    return float(np.clip((0.75 - absorption) / 0.6, 0.0, 1.0))


def texture(a: np.ndarray, b: np.ndarray, cell: float) -> np.ndarray:
    """Fixed noise in [0, 1) looked up in world-plane coordinates (a, b) with cells of ``cell`` m."""
    ia = np.floor(a / cell).astype(np.int64) % 256
    ib = np.floor(b / cell).astype(np.int64) % 256
    return NOISE[ia, ib]


def grid(a: np.ndarray, b: np.ndarray, pa: float, pb: float, width: np.ndarray) -> np.ndarray:
    """1 on grid lines (periods pa, pb metres, half-width ``width`` metres), else 0."""
    da = np.abs((a + pa / 2) % pa - pa / 2)
    db = np.abs((b + pb / 2) % pb - pb / 2)
    return ((da < width) | (db < width)).astype(float)


def nearest_hit(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first plane each ray meets and its ray parameter, from ``t`` (planes, ...)."""
    surf = np.argmin(t, axis=0)
    return surf, np.take_along_axis(t, surf[None], 0)[0]


def near_bound(p: np.ndarray, size: float, eps: np.ndarray, from_zero: bool = True) -> np.ndarray:
    """1 where coordinate ``p`` lies within ``eps`` of the room bound ``size`` (or of 0, unless
    ``from_zero`` is false), else 0."""
    near = p > size - eps
    if from_zero:
        near = (p < eps) | near
    return near.astype(int)


def shade_surfaces(
    style: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    pix: np.ndarray,
    dist: np.ndarray,
    sheen: np.ndarray,
    near: np.ndarray,
    absorption: float,
) -> np.ndarray:
    """Colour of each ray's hit point as uint8 RGB.

    Args:
        style: surface style per pixel (rows of :data:`COLOURS`); a, b: hit point coordinates
            along and across its plane (metres); pix: metres per pixel there; dist: distance
            that dims the light; sheen: floor gloss in [0, 1]; near: how many room bounds the
            hit point is within about a pixel of (2 or more: a room edge, darkened).
    """
    hd = hardness(absorption)
    fine = texture(a, b, 0.012)
    coarse = texture(a + 7.3, b + 3.1, 0.3)
    # hard: plaster walls, glossy 0.5 m floor tiles with grout and sheen, smooth ceiling
    hard_mod = 1 + 0.03 * (fine - 0.5)
    floor_hard = (1 - 0.35 * grid(a, b, 0.5, 0.5, 0.6 * pix)) * (0.94 + 0.12 * coarse)
    hard_mod = np.where(style == FLOOR, floor_hard + 0.45 * sheen, hard_mod)
    # absorbent: fabric panels (0.6 x 1.2 m, dark seams), carpet speckle, ceiling tiles
    soft_mod = 1 + 0.35 * (fine - 0.5)
    seams = grid(a, b, 0.6, 1.2, 0.7 * pix)
    soft_mod = np.where(style <= 2, soft_mod * (1 - 0.4 * seams), soft_mod)
    soft_mod = np.where(style == FLOOR, 1 + 0.6 * (fine - 0.5), soft_mod)
    soft_mod = np.where(
        style == CEILING, (1 + 0.15 * (fine - 0.5)) * (1 - 0.3 * grid(a, b, 0.6, 0.6, 0.6 * pix)), soft_mod
    )
    colour = hd * COLOURS[style, 0] * hard_mod[..., None] + (1 - hd) * COLOURS[style, 1] * soft_mod[..., None]
    light = LIGHT[style] * (0.55 + 0.45 * np.exp(-dist / 10.0))
    light = light * np.where(near >= 2, 0.55, 1.0)
    return np.clip(colour * light[..., None], 0, 255).round().astype(np.uint8)
