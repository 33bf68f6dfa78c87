"""The 360 view of a clip: equirectangular frames and first-order ambisonics (FOA) of one scene.

A spherical camera and an ambisonic microphone sit at the listener's head. The 360 scene is the
pinhole scene's sources plus ``view360.extra_sources`` players outside the pinhole camera's view
(:func:`~avrepro.data.synthetic.scene.draw_surround_sources`), so sounds come from all around
while the binaural audio and pinhole video of the clip stay exactly as they are without them.
Both 360 modalities show the same sources at the same directions:

- FOA (ambiX: ACN ``W, Y, Z, X``, SN3D): every source's image sources (pyroomacoustics, the same
  room, order and RIR length as the binaural render) are encoded with their arrival directions'
  SN3D gains, delayed and attenuated as in the binaural path
  (:func:`avrepro.audio.ambisonics.foa_rir`); the mix is peak-normalised to 0.9.
- Video: equirectangular frames (column 0 = azimuth +180 deg, the centre column = azimuth 0, the
  front; azimuth decreases to the right; row 0 = elevation +90 deg). Every pixel's ray is cast
  to the room's walls, floor and ceiling (all six, the wall behind the listener included) and
  textured like the pinhole view; each source is a class sprite at its azimuth and elevation
  whose angular size follows its distance, animated by its own audio envelope.

Equirect boxes are half-open pixel boxes ``[x0, y0, x1, y1]`` with ``0 <= x0 < W``; a box that
crosses the left/right seam has ``x1 > W`` (columns ``x0..W-1`` then ``0..x1-W-1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy.signal import fftconvolve

from avrepro.audio.ambisonics import foa_rir
from avrepro.data.synthetic import instruments, room as room_mod
from avrepro.data.synthetic.render_video import (_COLOURS, _LIGHT, _grid, _texture, draw_sprite,
                                                 envelopes, hardness)
from avrepro.data.synthetic.scene import MAX_PULSE, Scene, direction, draw_surround_sources

FOA_PEAK = 0.9
FOA_DIR = "foa"
VIDEO360_DIR = "video360"
#: surface -> colour/light row of render_video's tables: left, right, back, front wall, floor, ceiling
_SURFACE_STYLE = np.array([0, 1, 2, 2, 3, 4])


@dataclass
class View360:
    """The 360 modalities of one clip, in memory."""

    foa: np.ndarray          # (4, n) float32 ambiX, peak FOA_PEAK
    frames: np.ndarray       # (T, H, W, 3) uint8 equirectangular
    meta: dict               # the clip meta's "view360" entry


def pixel_of(azimuth_deg, elevation_deg, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Equirect pixel coordinates (u in [0, W), v in [0, H]) of directions (continuous, pixel
    centres at +0.5)."""
    u = np.mod(0.5 - np.asarray(azimuth_deg, float) / 360.0, 1.0) * width
    v = (0.5 - np.asarray(elevation_deg, float) / 180.0) * height
    return u, v


def ray_directions(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit world ray (x right, y forward, z up) through every pixel centre, each (H, W)."""
    az = math.pi * (1 - 2 * (np.arange(width) + 0.5) / width)
    el = math.pi / 2 * (1 - 2 * (np.arange(height) + 0.5) / height)
    az, el = np.meshgrid(az, el)
    return -np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)


def render_background_360(scene: Scene, width: int, height: int, supersample: int = 2) -> np.ndarray:
    """The empty room seen from the listener in every direction: (H * s, W * s, 3) uint8."""
    w, d, h = scene.room.dims
    cx, cy, cz = scene.listener
    s = supersample
    rx, ry, rz = ray_directions(width * s, height * s)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.stack([
            np.where(rx < 0, (0 - cx) / rx, np.inf),
            np.where(rx > 0, (w - cx) / rx, np.inf),
            np.where(ry > 0, (d - cy) / ry, np.inf),
            np.where(ry < 0, (0 - cy) / ry, np.inf),
            np.where(rz < 0, (0 - cz) / rz, np.inf),
            np.where(rz > 0, (h - cz) / rz, np.inf),
        ])
    surf = np.argmin(t, axis=0)
    dist = np.take_along_axis(t, surf[None], 0)[0]
    px, py, pz = cx + dist * rx, cy + dist * ry, cz + dist * rz
    a = np.choose(surf, [py, py, px, px, px, px])
    b = np.choose(surf, [pz, pz, pz, pz, py, py])
    style = _SURFACE_STYLE[surf]
    pix = dist * math.pi / height  # metres per output pixel at the hit point
    hd = hardness(scene.room.absorption)
    fine = _texture(a, b, 0.012)
    coarse = _texture(a + 7.3, b + 3.1, 0.3)
    hard_mod = 1 + 0.03 * (fine - 0.5)
    floor_hard = (1 - 0.35 * _grid(a, b, 0.5, 0.5, 0.6 * pix)) * (0.94 + 0.12 * coarse)
    sheen = np.clip(1 - np.abs(rz), 0, 1) ** 6
    hard_mod = np.where(style == 3, floor_hard + 0.45 * sheen, hard_mod)
    soft_mod = 1 + 0.35 * (fine - 0.5)
    seams = _grid(a, b, 0.6, 1.2, 0.7 * pix)
    soft_mod = np.where(style <= 2, soft_mod * (1 - 0.4 * seams), soft_mod)
    soft_mod = np.where(style == 3, 1 + 0.6 * (fine - 0.5), soft_mod)
    soft_mod = np.where(style == 4, (1 + 0.15 * (fine - 0.5)) * (1 - 0.3 * _grid(a, b, 0.6, 0.6, 0.6 * pix)),
                        soft_mod)
    colour = (hd * _COLOURS[style, 0] * hard_mod[..., None]
              + (1 - hd) * _COLOURS[style, 1] * soft_mod[..., None])
    light = _LIGHT[style] * (0.55 + 0.45 * np.exp(-dist / 10.0))
    eps = 1.2 * pix
    near = (((px < eps) | (px > w - eps)).astype(int) + ((py < eps) | (py > d - eps)).astype(int)
            + ((pz < eps) | (pz > h - eps)).astype(int))
    light = light * np.where(near >= 2, 0.55, 1.0)
    return np.clip(colour * light[..., None], 0, 255).round().astype(np.uint8)


def sprite_box_360(listener, position, size_m, width: int, height: int,
                   scale: float = 1.0) -> tuple[float, float, float, float]:
    """Continuous equirect box (u0, v0, u1, v1) of a sprite facing the listener; u0 in [0, W),
    u1 may exceed W across the seam. Angular half-sizes atan(size / 2 / distance); the width is
    stretched by 1 / cos(elevation) as equirect rows are."""
    az, el, dist = direction(listener, position)
    u, v = pixel_of(az, el, width, height)
    half_w = math.atan(0.5 * scale * size_m[0] / dist) / max(math.cos(math.radians(el)), 0.2)
    half_h = math.atan(0.5 * scale * size_m[1] / dist)
    hw, hh = half_w * width / (2 * math.pi), half_h * height / math.pi
    u0 = float(u) - hw
    shift = width if u0 < 0 else 0.0
    return (u0 + shift, float(v) - hh, float(u) + hw + shift, float(v) + hh)


def _pixel_box_360(box, width: int, height: int) -> list[int]:
    u0, v0, u1, v1 = box
    x0 = int(math.floor(u0))
    x1 = int(min(math.ceil(u1), x0 + width))
    return [x0, int(np.clip(math.floor(v0), 0, height)), x1, int(np.clip(math.ceil(v1), 0, height))]


def render_frames_360(scene: Scene, stems: np.ndarray, rate: int, fps: int, n_frames: int,
                      width: int, height: int, supersample: int = 2,
                      background: np.ndarray | None = None) -> tuple[np.ndarray, list[list[list[int]]]]:
    """Equirect frames of ``scene`` with sprites animated by ``stems`` (k, n), one row per source.

    Sprites are drawn at ``supersample`` x and box-filtered down; the room (``background``,
    default :func:`render_background_360` at 1x) is upsampled bilinearly to that size first.

    Returns:
        frames (n_frames, H, W, 3) uint8 and per source its per-frame equirect boxes.
    """
    s = supersample
    if background is None:  # the room at 1x (its textures are noise anyway), sprites drawn at s x
        background = render_background_360(scene, width, height, 1)
    bg = Image.fromarray(background)
    if bg.size != (width * s, height * s):
        bg = bg.resize((width * s, height * s), Image.BILINEAR)
    level, onset = envelopes(stems, rate, fps, n_frames)
    listener = scene.listener
    dists = [direction(listener, src.position)[2] for src in scene.sources]
    order = np.argsort(-np.asarray(dists), kind="stable")  # far to near
    # static floor shadows below each source
    shade = Image.new("L", bg.size, 0)
    sd = ImageDraw.Draw(shade)
    for src in scene.sources:
        foot = (src.position[0], src.position[1], 0.0)
        az, el, _ = direction(listener, foot)
        r = math.hypot(src.position[0] - listener[0], src.position[1] - listener[1])
        rho = 0.5 * src.size_m[0]
        u, v = pixel_of(az, el, width, height)
        rw = s * math.atan(rho / max(r, 0.1)) * width / (2 * math.pi)
        rh = s * rho * listener[2] / (r * r + listener[2] ** 2) * height / math.pi
        for shift in (-width, 0, width):
            cu = s * (float(u) + shift)
            sd.ellipse([cu - rw, s * float(v) - rh, cu + rw, s * float(v) + rh], fill=110)
    bg = Image.composite(Image.new("RGB", bg.size, (0, 0, 0)), bg, shade)
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    boxes: list[list[list[int]]] = [[] for _ in scene.sources]
    for i in range(n_frames):
        img = bg.copy()
        draw = ImageDraw.Draw(img)
        for k in order:
            src = scene.sources[k]
            pulse = float(np.clip(0.6 * onset[k, i] + 0.4 * level[k, i], 0, 1))
            box = sprite_box_360(listener, src.position, src.size_m, width, height,
                                 1 + (MAX_PULSE - 1) * pulse)
            for shift in (0, -width):  # the part beyond the right edge reappears on the left
                if shift and box[2] <= width:
                    continue
                draw_sprite(draw, src.name, [s * (box[0] + shift), s * box[1], s * (box[2] + shift), s * box[3]],
                            0.4 + 0.6 * level[k, i], onset[k, i])
            boxes[k].append(_pixel_box_360(box, width, height))
        frames[i] = np.asarray(img.reduce(s))
    return frames, boxes


def render_view360(cfg: dict, seed: int, room_index: int, clip_index: int, scene: Scene,
                   stems: np.ndarray, gain: float, order: int, cid: str) -> View360:
    """FOA and equirect video of one clip (called by ``generate_clip``).

    Args:
        cfg: the resolved ``synthetic`` section (``view360``: frame size, extra sources).
        scene: the clip's pinhole scene; stems: its sources' stems as stored (scaled by ``gain``).
        order: the image-source order of the clip's binaural render.
    Returns:
        the 360 view; extra sources draw from the random streams ``[seed, room, clip, 2]``
        (placement) and ``[seed, room, clip, 3, k]`` (phrase, level), apart from the binaural
        streams, so the binaural files do not depend on this.
    """
    from avrepro.data.synthetic.generate import LEVEL_DB, STEM_RMS

    vcfg = cfg["view360"]
    fs, fps = int(cfg["sample_rate"]), int(cfg["fps"])
    n, n_frames = stems.shape[-1], int(round(cfg["clip_seconds"] * fps))
    width, height = int(vcfg["frame_width"]), int(vcfg["frame_height"])
    rng = np.random.default_rng([seed, room_index, clip_index, 2])
    lo, hi = int(vcfg["extra_sources"]["min"]), int(vcfg["extra_sources"]["max"])
    extra = draw_surround_sources(rng, scene, cfg, int(rng.integers(lo, hi + 1)))
    extra_stems, levels = [], []
    for k, src in enumerate(extra):
        rng_k = np.random.default_rng([seed, room_index, clip_index, 3, k])
        level_db = float(rng_k.uniform(*LEVEL_DB))
        audio, _ = instruments.render_phrase(rng_k, src.name, cfg["clip_seconds"], fs)
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        if rms < 1e-6:
            raise RuntimeError(f"clip {cid}: rendered {src.name} phrase (360 view) is silent")
        extra_stems.append(audio * (gain * STEM_RMS * 10 ** (level_db / 20) / rms))
        levels.append(level_db)
    all_stems = np.concatenate([np.asarray(stems, np.float64)]
                               + [np.asarray(extra_stems, np.float64).reshape(len(extra), n)])
    scene360 = Scene(room=scene.room, camera=scene.camera, sources=scene.sources + extra)
    m = int(round(cfg["rir_seconds"] * fs))
    images = room_mod.image_sources(scene.room.dims, scene.room.absorption, scene.listener,
                                    [s.position for s in scene360.sources], fs, order)
    foa = np.zeros((4, n))
    for stem, (pos, damping, _) in zip(all_stems, images):
        rir = foa_rir(pos, damping, scene.listener, fs, m, room_mod.REFERENCE_DISTANCE_M)
        foa += fftconvolve(stem[None], rir.astype(np.float64), axes=-1)[:, :n]
    peak = float(np.abs(foa).max())
    if peak < 1e-9:
        raise RuntimeError(f"clip {cid}: silent ambisonics")
    foa_gain = FOA_PEAK / peak
    frames, boxes = render_frames_360(scene360, all_stems, fs, fps, n_frames, width, height)
    n_pin = len(scene.sources)
    sources = []
    for k, src in enumerate(scene360.sources):
        az, el, dist = direction(scene.listener, src.position)
        sources.append({"class": src.name, "class_index": src.class_index, "azimuth_deg": az,
                        "elevation_deg": el, "distance_m": dist, "position": list(src.position),
                        "size_m": list(src.size_m), "in_pinhole_view": k < n_pin,
                        **({"level_db": levels[k - n_pin]} if k >= n_pin else {"source_index": k}),
                        "boxes": boxes[k]})
    meta = {"foa": f"{FOA_DIR}/{cid}.wav", "video": f"{VIDEO360_DIR}/{cid}.mp4",
            "format": "ambiX (ACN W,Y,Z,X; SN3D)", "frame_size": [width, height],
            "projection": "equirectangular; column 0 = azimuth +180 deg, centre = azimuth 0 (front), "
                          "azimuth decreasing to the right; row 0 = elevation +90 deg",
            "foa_gain": foa_gain, "foa_gain_note": "foa = foa_gain * sum_k stem_k * foa_rir_k; binaural "
                                                   "sources' stems are the stored stems",
            "n_extra_sources": len(extra), "sources": sources}
    return View360((foa * foa_gain).astype(np.float32), frames, meta)


def write_view360(view: View360, root, sample_rate: int, fps: int) -> None:
    """Write ``foa/<id>.wav`` (16-bit, 4 channels) and ``video360/<id>.mp4`` under ``root``."""
    from pathlib import Path

    from avrepro.media import write_mp4, write_wav

    root = Path(root)
    write_wav(root / view.meta["foa"], view.foa, sample_rate)
    write_mp4(root / view.meta["video"], view.frames, fps)
