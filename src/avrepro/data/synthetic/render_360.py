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
from avrepro.data.synthetic import room as room_mod
from avrepro.data.synthetic.recording import microphone, with_noise_floor
from avrepro.data.synthetic.scene import Scene, Source, direction, draw_surround_sources
from avrepro.data.synthetic.sprites import SHADOW_LEVEL, animate, envelopes, with_shadows
from avrepro.data.synthetic.stems import dry_stem
from avrepro.data.synthetic.surfaces import near_bound, nearest_hit, shade_surfaces

FOA_PEAK = 0.9
FOA_DIR = "foa"
VIDEO360_DIR = "video360"
#: surface -> style (row of surfaces.COLOURS / LIGHT): left, right, back, front wall, floor, ceiling
_SURFACE_STYLE = np.array([0, 1, 2, 2, 3, 4])


@dataclass
class View360:
    """The 360 modalities of one clip, in memory."""

    foa: np.ndarray  # (4, n) float32 ambiX, peak FOA_PEAK
    frames: np.ndarray  # (T, H, W, 3) uint8 equirectangular
    meta: dict  # the clip meta's "view360" entry


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
        t = np.stack(
            [
                np.where(rx < 0, (0 - cx) / rx, np.inf),
                np.where(rx > 0, (w - cx) / rx, np.inf),
                np.where(ry > 0, (d - cy) / ry, np.inf),
                np.where(ry < 0, (0 - cy) / ry, np.inf),
                np.where(rz < 0, (0 - cz) / rz, np.inf),
                np.where(rz > 0, (h - cz) / rz, np.inf),
            ]
        )
    surf, dist = nearest_hit(t)
    px, py, pz = cx + dist * rx, cy + dist * ry, cz + dist * rz
    a = np.choose(surf, [py, py, px, px, px, px])
    b = np.choose(surf, [pz, pz, pz, pz, py, py])
    pix = dist * math.pi / height  # metres per output pixel at the hit point
    sheen = np.clip(1 - np.abs(rz), 0, 1) ** 6
    eps = 1.2 * pix
    near = near_bound(px, w, eps) + near_bound(py, d, eps) + near_bound(pz, h, eps)
    return shade_surfaces(_SURFACE_STYLE[surf], a, b, pix, dist, sheen, near, scene.room.absorption)


def sprite_box_360(
    listener, position, size_m, width: int, height: int, scale: float = 1.0
) -> tuple[float, float, float, float]:
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


def _floor_shadows_360(scene: Scene, size: tuple[int, int], width: int, height: int, s: int) -> Image.Image:
    """The static shadow mask (mode "L", ``size``) below each source, drawn at ``s`` x and
    repeated across the seam."""
    listener = scene.listener
    shade = Image.new("L", size, 0)
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
            sd.ellipse([cu - rw, s * float(v) - rh, cu + rw, s * float(v) + rh], fill=SHADOW_LEVEL)
    return shade


def render_frames_360(
    scene: Scene,
    stems: np.ndarray,
    rate: int,
    fps: int,
    n_frames: int,
    width: int,
    height: int,
    supersample: int = 2,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, list[list[list[int]]]]:
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
    bg = with_shadows(bg, _floor_shadows_360(scene, bg.size, width, height, s))

    def place(src: Source, scale: float) -> tuple[list, list[int]]:
        box = sprite_box_360(listener, src.position, src.size_m, width, height, scale)
        # the part beyond the right edge reappears on the left
        copies = [
            [s * (box[0] + shift), s * box[1], s * (box[2] + shift), s * box[3]]
            for shift in (0, -width)
            if not (shift and box[2] <= width)
        ]
        return copies, _pixel_box_360(box, width, height)

    return animate(bg, scene.sources, order, level, onset, (width, height), s, place)


def _extra_sources(
    cfg: dict, seed: int, room_index: int, clip_index: int, scene: Scene, gain: float, cid: str
) -> tuple[tuple[Source, ...], list[np.ndarray], list[float]]:
    """The 360 view's extra sources (placed with the random stream ``[seed, room, clip, 2]``),
    their stems at the clip's ``gain`` and their levels (streams ``[seed, room, clip, 3, k]``)."""
    vcfg, fs = cfg["view360"], int(cfg["sample_rate"])
    rng = np.random.default_rng([seed, room_index, clip_index, 2])
    lo, hi = int(vcfg["extra_sources"]["min"]), int(vcfg["extra_sources"]["max"])
    extra = draw_surround_sources(rng, scene, cfg, int(rng.integers(lo, hi + 1)))
    stems, levels = [], []
    for k, src in enumerate(extra):
        rng_k = np.random.default_rng([seed, room_index, clip_index, 3, k])
        stem, _, level_db = dry_stem(
            rng_k,
            src.name,
            cfg["clip_seconds"],
            fs,
            cid,
            scale=gain,
            view=" (360 view)",
            note_beats=cfg.get("note_beats"),
            program=src.program,
            performance=cfg.get("performance"),
        )
        stems.append(stem)
        levels.append(level_db)
    return extra, stems, levels


def _foa_mix(cfg: dict, scene360: Scene, stems: np.ndarray, order: int) -> np.ndarray:
    """Unnormalised FOA (4, n) of every source of ``scene360`` (its ``stems``, float64)."""
    fs = int(cfg["sample_rate"])
    n = stems.shape[-1]
    m = int(round(cfg["rir_seconds"] * fs))
    room, listener = scene360.room, scene360.listener
    images = room_mod.image_sources(
        room.dims, room.absorption, listener, [s.position for s in scene360.sources], fs, order
    )
    foa = np.zeros((4, n))
    for stem, (pos, damping, _) in zip(stems, images, strict=True):
        rir = foa_rir(pos, damping, listener, fs, m, room_mod.REFERENCE_DISTANCE_M)
        foa += fftconvolve(stem[None], rir.astype(np.float64), axes=-1)[:, :n]
    return foa


def _sources_meta_360(scene360: Scene, n_pin: int, levels: list[float], boxes) -> list[dict]:
    """Meta of every 360 source: the pinhole scene's ``n_pin`` first (by ``source_index``), then
    the extra ones (by ``level_db``)."""
    sources = []
    for k, src in enumerate(scene360.sources):
        az, el, dist = direction(scene360.listener, src.position)
        sources.append(
            {
                "class": src.name,
                "class_index": src.class_index,
                "azimuth_deg": az,
                "elevation_deg": el,
                "distance_m": dist,
                "position": list(src.position),
                "size_m": list(src.size_m),
                "in_pinhole_view": k < n_pin,
                **({"level_db": levels[k - n_pin]} if k >= n_pin else {"source_index": k}),
                "boxes": boxes[k],
            }
        )
    return sources


def _view_meta(cid: str, width: int, height: int, foa_gain: float, n_extra: int, sources: list[dict]) -> dict:
    """The clip meta's ``view360`` entry."""
    return {
        "foa": f"{FOA_DIR}/{cid}.wav",
        "video": f"{VIDEO360_DIR}/{cid}.mp4",
        "format": "ambiX (ACN W,Y,Z,X; SN3D)",
        "frame_size": [width, height],
        "projection": "equirectangular; column 0 = azimuth +180 deg, centre = azimuth 0 (front), "
        "azimuth decreasing to the right; row 0 = elevation +90 deg",
        "foa_gain": foa_gain,
        "foa_gain_note": "foa = foa_gain * low cut of (sum_k stem_k * foa_rir_k + room noise); "
        "binaural sources' stems are the stored stems",
        "n_extra_sources": n_extra,
        "sources": sources,
    }


def render_view360(
    cfg: dict,
    seed: int,
    room_index: int,
    clip_index: int,
    scene: Scene,
    stems: np.ndarray,
    gain: float,
    order: int,
    cid: str,
    recording: dict | None = None,
) -> View360:
    """FOA and equirect video of one clip (called by ``generate_clip``).

    Args:
        cfg: the resolved ``synthetic`` section (``view360``: frame size, extra sources).
        scene: the clip's pinhole scene; stems: its sources' stems as stored (scaled by ``gain``).
        order: the image-source order of the clip's binaural render.
        recording: the clip's microphone low cut and noise floor (``meta["recording"]``), applied
            to the FOA too (noise from the stream ``[seed, room, clip, 4, 1]``).
    Returns:
        the 360 view; extra sources draw from the random streams ``[seed, room, clip, 2]``
        (placement) and ``[seed, room, clip, 3, k]`` (phrase, level), apart from the binaural
        streams, so the binaural files do not depend on this.
    """
    vcfg = cfg["view360"]
    fs, fps = int(cfg["sample_rate"]), int(cfg["fps"])
    n, n_frames = stems.shape[-1], int(round(cfg["clip_seconds"] * fps))
    width, height = int(vcfg["frame_width"]), int(vcfg["frame_height"])
    extra, extra_stems, levels = _extra_sources(cfg, seed, room_index, clip_index, scene, gain, cid)
    all_stems = np.concatenate(
        [np.asarray(stems, np.float64)] + [np.asarray(extra_stems, np.float64).reshape(len(extra), n)]
    )
    scene360 = Scene(room=scene.room, camera=scene.camera, sources=scene.sources + extra)
    foa = microphone(_foa_mix(cfg, scene360, all_stems, order), fs, recording)
    foa = with_noise_floor(np.random.default_rng([seed, room_index, clip_index, 4, 1]), foa, fs, recording)
    peak = float(np.abs(foa).max())
    if peak < 1e-9:
        raise RuntimeError(f"clip {cid}: silent ambisonics")
    foa_gain = FOA_PEAK / peak
    frames, boxes = render_frames_360(scene360, all_stems, fs, fps, n_frames, width, height)
    sources = _sources_meta_360(scene360, len(scene.sources), levels, boxes)
    meta = _view_meta(cid, width, height, foa_gain, len(extra), sources)
    return View360((foa * foa_gain).astype(np.float32), frames, meta)


def write_view360(view: View360, root, sample_rate: int, fps: int) -> None:
    """Write ``foa/<id>.wav`` (16-bit, 4 channels) and ``video360/<id>.mp4`` under ``root``."""
    from pathlib import Path

    from avrepro.media import write_mp4, write_wav

    root = Path(root)
    write_wav(root / view.meta["foa"], view.foa, sample_rate)
    write_mp4(root / view.meta["video"], view.frames, fps)
