"""Sound-map videos of ``avrepro separate``: each pixel's share of the sound (the model's sound
maps, one per window) over the video's frames, regions outlined in their colour, with sound."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from avrepro.figures import color_for
from avrepro.media import probe_mp4, read_mp4_frames, write_mp4

DISPLAY_WIDTH = 480  # sound-map videos are drawn at this width (the height keeps the aspect)
DISPLAY_BYTES = 1 << 29  # ... or narrower, so that a long video's frames fit in this many bytes
ALPHA = 0.5  # opacity of the heat map's colour where a pixel has the largest share
DIM = 0.3  # brightness of the frame where a pixel has no share of the sound


def display_size(video: str | Path, frames: int) -> tuple[int, int]:
    """``(W, H)`` of ``video`` scaled to :data:`DISPLAY_WIDTH`, or narrower when ``frames``
    frames would take more than :data:`DISPLAY_BYTES`; both even (H.264)."""
    info = probe_mp4(video)
    aspect = info["height"] / info["width"]
    width = min(DISPLAY_WIDTH, int(np.sqrt(DISPLAY_BYTES / (3 * aspect * max(frames, 1)))))
    width = max(32, width // 2 * 2)
    return width, max(2, round(width * aspect / 2) * 2)


def display_frames(video: str | Path, size: tuple[int, int], count: int) -> np.ndarray:
    """The first ``count`` frames of ``video`` at ``size`` = (W, H) (the last one repeated when
    the video has fewer)."""
    frames, _ = read_mp4_frames(video, size=size)
    idx = np.minimum(np.arange(count), len(frames) - 1)
    return frames[idx]


def window_of_frames(count: int, fps: float, rate: int, starts: list[int], window: int) -> np.ndarray:
    """For each of ``count`` frames, the window (index into ``starts``) that holds its time."""
    samples = np.arange(count) / fps * rate
    return np.clip(((samples - starts[0]) // window).astype(int), 0, len(starts) - 1)


def upsample(maps: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Bilinear ``(n, h, w)`` -> ``(n, H, W)``, clipped at zero."""
    x = torch.from_numpy(np.asarray(maps, dtype=np.float32))[:, None]
    up = F.interpolate(x, size=(size_wh[1], size_wh[0]), mode="bilinear", align_corners=False)
    return up[:, 0].clamp_min(0).numpy()


def heat_overlay(frame: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """A uint8 frame ``(H, W, 3)`` lit by a heat map in [0, 1] ``(H, W)``: dimmed where the
    heat is low, tinted with the inferno colour of the heat where it is high."""
    from matplotlib import colormaps

    level = np.clip(heat, 0, 1)[..., None]
    colour = colormaps["inferno"](level[..., 0])[..., :3] * 255.0
    lit = frame * (DIM + (1 - DIM) * level)
    a = ALPHA * level
    return np.clip(lit * (1 - a) + colour * a + 0.5, 0, 255).astype(np.uint8)


def region_colours(count: int) -> list[tuple[int, int, int]]:
    """A distinct RGB colour per region."""
    names = [f"region_{k}" for k in range(count)]
    hexes = [color_for(n, names).lstrip("#") for n in names]
    return [tuple(int(h[i : i + 2], 16) for i in (0, 2, 4)) for h in hexes]


def outline_layer(regions: np.ndarray, size_wh: tuple[int, int]) -> Image.Image:
    """A transparent RGBA layer with each region's cells ``(R, h, w)`` outlined and numbered."""
    w_out, h_out = size_wh
    _, h, w = regions.shape
    layer = Image.new("RGBA", size_wh, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(10, h_out // 12))
    cell_w, cell_h = w_out / w, h_out / h
    for k, (mask, rgb) in enumerate(zip(regions, region_colours(len(regions)), strict=True)):
        for r, c in zip(*np.nonzero(mask), strict=True):
            x0, y0, x1, y1 = c * cell_w, r * cell_h, (c + 1) * cell_w - 1, (r + 1) * cell_h - 1
            edges = (
                (r == 0 or not mask[r - 1, c], [(x0, y0), (x1, y0)]),
                (r == h - 1 or not mask[r + 1, c], [(x0, y1), (x1, y1)]),
                (c == 0 or not mask[r, c - 1], [(x0, y0), (x0, y1)]),
                (c == w - 1 or not mask[r, c + 1], [(x1, y0), (x1, y1)]),
            )
            for outer, line in edges:
                if outer:
                    draw.line(line, fill=(*rgb, 255), width=2)
        r, c = (int(v.min()) for v in np.nonzero(mask))
        draw.text((c * cell_w + 4, r * cell_h + 2), str(k), fill=(*rgb, 255), font=font)
    return layer


def render(
    frames: np.ndarray, heat: np.ndarray, windows: np.ndarray, layer: Image.Image | None
) -> np.ndarray:
    """Frames with their window's heat map ``heat[windows[i]]`` (``(n, H, W)``, in [0, 1])
    and the ``layer`` of outlines on top."""
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        img = heat_overlay(frame, heat[windows[i]])
        if layer is not None:
            img = np.asarray(
                Image.alpha_composite(Image.fromarray(img).convert("RGBA"), layer).convert("RGB")
            )
        out[i] = img
    return out


def write_video(path: Path, frames: np.ndarray, fps: float, audio: np.ndarray, rate: int) -> Path:
    """H.264 + AAC mp4 of ``frames`` with mono ``audio`` (scaled down only if it would clip); the
    encoder takes an integer frame rate: ``fps`` is rounded."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    audio = audio * (0.99 / peak) if peak > 0.99 else audio
    write_mp4(path, frames, max(1, round(fps)), audio=np.asarray(audio, np.float32)[None], audio_rate=rate)
    return path


def sound_map_video(
    path: Path,
    videos: list[Path],
    maps: np.ndarray,
    timing: dict,
    audio: np.ndarray,
    regions: np.ndarray | None = None,
) -> Path:
    """Write ``path``: the videos side by side, each with its sound maps ``maps[:, n]``
    (``(windows, videos, h, w)``, scaled from their minimum to their maximum) over its frames.

    ``timing``: ``fps``, ``rate``, ``starts`` (window starts), ``window`` and ``samples``
    (the sound's length). ``regions`` ``(R, h, w)`` (one video): outlined and numbered.
    """
    count = max(1, int(timing["samples"] / timing["rate"] * timing["fps"]))
    size = display_size(videos[0], count * len(videos))
    windows = window_of_frames(count, timing["fps"], timing["rate"], timing["starts"], timing["window"])
    heat = (maps - maps.min()) / max(float(maps.max() - maps.min()), 1e-12)
    layer = outline_layer(regions, size) if regions is not None else None
    sides = [
        render(display_frames(v, size, count), upsample(heat[:, n], size), windows, layer)
        for n, v in enumerate(videos)
    ]
    return write_video(path, np.concatenate(sides, axis=2), timing["fps"], audio, timing["rate"])
