"""``avrepro locate``: where the sound comes from in a 360 video, as a heat map over its
equirectangular frame, from a trained spatial model (AVC or AVSA).

How a direction is scored. The model was trained on pairs (:class:`~.data.SpatialExamples`): the
perspective crop centred on a direction d and the window's FOA turned toward d
(:func:`~.data.view_rotations`, as ``rotate_toward``: d becomes the microphone's front), the pair
its contrastive objective pulls together. So every direction d of a grid (yaw every
``--yaw-step`` degrees all around; pitch every ``--pitch-step`` degrees within the model's
viewpoint pitches ``viewpoints.pitch_deg``; crops of ``--fov`` degrees, default the evaluation's
``eval.alignment.fov_deg``) is scored by the model's similarity of the crop centred on d with the
FOA turned toward d: the diagonal of the evaluation's alignment matrix, from the same function
(:func:`~.downstream.viewpoint_similarity`: AVC, the two projections; AVSA, the V2A transformer's
audio prediction from all the grid's crops together, as the evaluation feeds it its whole ring,
against the audio target head). Turning the audio with the crop, not scoring every crop against
the audio as recorded, is what the training pairs do: the model never saw an unturned window
next to an off-centre crop.

``--score centered`` (default) takes that diagonal after the evaluation's double centring
(:func:`~.downstream.double_centered`: minus what a crop scores with every audio direction and what
an audio direction scores with every crop, plus the mean), which keeps the spatial agreement of
crop and turned audio and drops what either alone says; ``--score aligned`` is the diagonal as
is. ``centered`` is the default because on the synthetic 360 test clips its peak is near a true
source far more often (``benchmarks/spatial_locate.py``: azimuth within 30 deg of a source for
every clip with both default models, against 41 % for a uniformly random peak of the grid;
``aligned`` 82 % (AVC) and 32 % (AVSA)): the raw diagonal is pulled toward crops that match any
sound. The model has no absolute direction input (turning the frames and the FOA together turns
its map with them), so a hit is not a prior for the front.

Time: one heat map per window of ``--window`` seconds (default: the model's audio window
``audio.window_seconds``) every ``--hop`` seconds (default: the window); a window longer than the
model's is the mean of the scores of model windows spread evenly over it, each with the frames
around its centre (:func:`~.downstream.clip_frames`, by time at the video's own frame rate). The
overall map is the mean of the windows' scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avrepro.data.media_clips import MediaClips, decode_clip
from avrepro.io import write_json
from avrepro.media import MediaError, probe_mp4, read_mp4_frames, write_mp4
from avrepro.tasks.spatial.data import clip_window, render_crops, view_rotations, window_samples
from avrepro.tasks.spatial.downstream import (
    clip_frames,
    double_centered,
    view360_meta_sources,
    viewpoint_similarity,
)
from avrepro.tasks.spatial.model import SpatialModel
from avrepro.video.viewpoints import Viewpoint, angular_distance, equirect_directions, equirect_pixel

SCORES = ("centered", "aligned")
DISPLAY_WIDTH = 512  # the demo's output width (the verb's --display-width default)


@dataclass(frozen=True)
class LocateOptions:
    """What ``avrepro locate`` scores: window and hop (seconds, None = the model's window), grid
    steps and crop field of view (degrees), and the score (one of :data:`SCORES`)."""

    window_s: float | None = None
    hop_s: float | None = None
    yaw_step: float = 15.0
    pitch_step: float = 15.0
    fov_deg: float | None = None
    score: str = "centered"


@dataclass(frozen=True)
class Grid:
    """Directions scored: ``yaws`` from +180 down (left to right in the equirect frame), ``pitches``
    upward, crops of ``fov_deg``; scores are ``(len(pitches), len(yaws))``."""

    yaws: tuple[float, ...]
    pitches: tuple[float, ...]
    fov_deg: float

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.pitches), len(self.yaws)

    def viewpoints(self) -> list[Viewpoint]:
        """The grid's viewpoints, pitch-major (the order of a flattened score array)."""
        return [Viewpoint(y, p, self.fov_deg, self.fov_deg) for p in self.pitches for y in self.yaws]


def direction_grid(cfg: dict, yaw_step: float, pitch_step: float, fov_deg: float | None) -> Grid:
    """Yaw every ``yaw_step`` degrees all around (rounded to divide 360: a step of 360 / m gives
    the evaluation's ring of m viewpoints), pitch every ``pitch_step`` within the model's
    ``viewpoints.pitch_deg`` (``pitch_step <= 0``: the horizon only)."""
    if yaw_step <= 0 or yaw_step > 360:
        raise ValueError(f"--yaw-step {yaw_step}: must be in (0, 360] degrees")
    m = max(1, round(360.0 / yaw_step))
    lo, hi = (float(p) for p in cfg["viewpoints"]["pitch_deg"])
    if pitch_step <= 0 or hi <= lo:
        pitches = (float(np.clip(0.0, lo, hi)),)
    else:
        pitches = tuple(float(p) for p in np.linspace(lo, hi, round((hi - lo) / pitch_step) + 1))
    if fov_deg is None:
        fov_deg = ((cfg.get("eval") or {}).get("alignment") or {}).get("fov_deg")
        if fov_deg is None:
            raise ValueError(
                "no crop field of view: the model's eval settings lack spatial.eval.alignment.fov_deg "
                "(pass --params with the params.yaml the model was trained with, or --fov DEG)"
            )
    fov = float(fov_deg)
    if not 0 < fov < 180:
        raise ValueError(f"--fov {fov}: must be between 0 and 180 degrees")
    return Grid(tuple(180.0 - 360.0 * q / m for q in range(m)), pitches, fov)


def load_foa_clip(video: str | Path, foa: str | Path | None, cfg: dict) -> MediaClips:
    """The 360 video (frames at the model's frame size) with its 4-channel ambiX FOA, from the
    video's own audio or the wav ``foa``, at the model's sample rate.

    Raises:
        MediaError: no video, no audio stream (and no ``foa``), or not 4 audio channels.
    """
    if not probe_mp4(video)["has_audio"] and foa is None:  # probed first: a clear error for a non-video
        raise MediaError(video, "no audio stream; locate needs 4-channel ambiX FOA: pass it with --foa WAV")
    feats = cfg["features"]
    clip = decode_clip(
        video, int(feats["sample_rate"]), (int(feats["frame_width"]), int(feats["frame_height"])), foa
    )
    channels = clip.audio.shape[0]
    if channels != 4:
        hint = "" if foa is not None else "; pass the FOA with --foa WAV"
        raise MediaError(
            clip.audio_path,
            f"{channels} audio channel(s); locate needs 4-channel first-order ambisonics "
            f"(ambiX: W, Y, Z, X){hint}",
        )
    return MediaClips([clip], int(feats["sample_rate"]))


@dataclass(frozen=True)
class Windows:
    """Heat-map windows: their first samples, their length, and the offsets of the model windows
    (``model`` samples each) averaged inside one."""

    starts: tuple[int, ...]
    length: int
    hop: int
    pieces: tuple[int, ...]
    model: int


def plan_windows(clips: MediaClips, cfg: dict, window_s: float | None, hop_s: float | None) -> Windows:
    """The windows of ``--window`` seconds every ``--hop`` seconds that fit in the clip.

    Raises:
        ValueError: a window shorter than the model's, or a hop that is not positive.
        MediaError: the audio is shorter than one window.
    """
    rate = clips.sample_rate
    n = window_samples(cfg, rate)
    length = n if window_s is None else int(round(window_s * rate))
    if length < n:
        raise ValueError(f"--window {window_s} s is shorter than the model's audio window ({n / rate:g} s)")
    hop = length if hop_s is None else int(round(hop_s * rate))
    if hop <= 0:
        raise ValueError(f"--hop {hop_s} s: must be positive")
    total = int(clips.info(0)["n_samples"])
    if total < length:
        raise MediaError(
            clips.clips[0].audio_path,
            f"{total / rate:.2f} s of audio, shorter than one window ({length / rate:g} s)",
        )
    count = math.ceil(length / n)
    pieces = np.linspace(0, length - n, count).round().astype(int) if count > 1 else np.zeros(1, int)
    return Windows(tuple(range(0, total - length + 1, hop)), length, hop, tuple(int(p) for p in pieces), n)


def window_similarity(
    model: SpatialModel, clips: MediaClips, start: int, n: int, grid: Grid, cfg: dict
) -> np.ndarray:
    """``(m, m)`` similarities of the grid's m crops (rows) with the FOA window at ``start``
    turned toward each grid direction (columns), the frames those around the window's centre."""
    vps = grid.viewpoints()
    crops = render_crops(clip_frames(clips, 0, start, n, cfg), vps, cfg)[None]
    wav = torch.from_numpy(clip_window(clips, 0, start, n))[None]
    rot = torch.from_numpy(view_rotations(vps))
    return viewpoint_similarity(model, crops, wav, rot)[0].float().cpu().numpy()


def check_score(score: str) -> None:
    """Raise ``ValueError`` unless ``score`` is one of :data:`SCORES`."""
    if score not in SCORES:
        raise ValueError(f"--score {score!r}: must be one of {', '.join(SCORES)}")


def direction_scores(sim: np.ndarray, score: str, shape: tuple[int, int]) -> np.ndarray:
    """The ``shape`` grid of scores from a window's similarity matrix: its diagonal (crop d with
    the audio turned toward d), after :func:`double_centered` when ``score`` is ``centered``."""
    check_score(score)
    s = double_centered(sim) if score == "centered" else sim
    return np.diagonal(s).reshape(shape).copy()


@dataclass
class Located:
    """A clip's heat maps: ``scores`` ``(windows, pitches, yaws)``, ``overall`` ``(pitches, yaws)``."""

    clips: MediaClips
    grid: Grid
    windows: Windows
    scores: np.ndarray
    overall: np.ndarray
    score: str


def locate(
    model: SpatialModel,
    cfg: dict,
    video: str | Path,
    foa: str | Path | None,
    opts: LocateOptions,
    *,
    progress: bool = True,
) -> Located:
    """Score every window of a 360 video (with its FOA, or the wav ``foa``) over the grid."""
    grid = direction_grid(cfg, opts.yaw_step, opts.pitch_step, opts.fov_deg)
    check_score(opts.score)
    clips = load_foa_clip(video, foa, cfg)
    win = plan_windows(clips, cfg, opts.window_s, opts.hop_s)
    model.eval()
    maps = []
    for start in tqdm(win.starts, desc="locate", unit="window", disable=not progress, leave=False):
        parts = [
            direction_scores(
                window_similarity(model, clips, start + p, win.model, grid, cfg), opts.score, grid.shape
            )
            for p in win.pieces
        ]
        maps.append(np.mean(parts, axis=0))
    scores = np.stack(maps)
    return Located(clips, grid, win, scores, scores.mean(0), opts.score)


def peak_direction(scores: np.ndarray, grid: Grid) -> tuple[float, float]:
    """``(yaw, pitch)`` in degrees of the grid direction with the highest score."""
    p, y = np.unravel_index(int(np.argmax(scores)), grid.shape)
    return grid.yaws[y], grid.pitches[p]


def interpolation_weights(points: np.ndarray, nodes, period: float | None = None) -> np.ndarray:
    """``(len(points), len(nodes))`` linear interpolation weights (periodic with ``period``,
    else held constant beyond the end nodes)."""
    eye = np.eye(len(nodes))
    if len(nodes) == 1:
        return np.ones((len(points), 1))
    return np.stack([np.interp(points, nodes, eye[k], period=period) for k in range(len(nodes))], axis=1)


def equirect_heat(scores: np.ndarray, grid: Grid, width: int, height: int) -> np.ndarray:
    """``(height, width)`` map of grid ``scores`` over an equirect frame (linear between grid
    directions, around in yaw; above and below the grid's pitches, the nearest row)."""
    az, el = equirect_directions(width, height)
    wy = interpolation_weights(az, np.asarray(grid.yaws), period=360.0)
    wp = interpolation_weights(el, np.asarray(grid.pitches))
    return wp @ scores @ wy.T


def normalized(heat: np.ndarray) -> np.ndarray:
    """``heat`` scaled to [0, 1] (min to max; zeros when flat)."""
    lo, hi = float(heat.min()), float(heat.max())
    return (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)


def heat_layer(
    heat: np.ndarray, peak: tuple[float, float], alpha: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """Colours ``(H, W, 3)`` and opacity ``(H, W, 1)`` of a heat map ``(H, W)``: inferno colours
    of the normalized map, opacity growing with it, and an opaque white cross at ``peak``."""
    import matplotlib

    h, w = heat.shape
    level = normalized(heat)
    colors = (matplotlib.colormaps["inferno"](level)[..., :3] * 255.0).astype(np.float32)
    opacity = (alpha * level)[..., None].astype(np.float32)
    col, row = equirect_pixel(*peak, w, h)
    r = max(2, w // 80)
    for rows, cols in (
        (slice(max(0, row - r), row + r + 1), col),
        (row, np.arange(col - r, col + r + 1) % w),
    ):
        colors[rows, cols], opacity[rows, cols] = 255.0, 1.0
    return colors, opacity


def blend(frame: np.ndarray, layer: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``frame`` ``(H, W, 3)`` uint8 with a :func:`heat_layer` over it."""
    colors, opacity = layer
    out = frame.astype(np.float32) * (1.0 - opacity) + colors * opacity
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def display_frames(located: Located, display_width: int) -> np.ndarray:
    """The video's frames for the output (a new array): its own size, at most ``display_width``
    wide (even sizes for H.264); a copy of the model's frames when that is their size."""
    clip = located.clips.clips[0]
    info = probe_mp4(clip.video_path)
    w = max(2, min(int(info["width"]), int(display_width)) // 2 * 2)
    h = max(2, round(w * int(info["height"]) / int(info["width"]) / 2) * 2)
    if (w, h) == located.clips.frame_size:
        return clip.frames.copy()
    return read_mp4_frames(clip.video_path, size=(w, h))[0]


def write_heat_video(located: Located, frames: np.ndarray, out: str | Path) -> Path:
    """Write ``out``: ``frames`` (the clip's, at its frame rate rounded to an integer, picked by
    time so that the length is kept) each with the heat map of the window whose centre is
    nearest, and the FOA's W channel as mono sound. The maps are drawn into ``frames`` in place
    (one copy of a long video in memory, not two)."""
    fps, rate, win = located.clips.fps, located.clips.sample_rate, located.windows
    t, h, w, _ = frames.shape
    out_fps = max(1, round(fps))
    n_out = max(1, round(t * out_fps / fps))
    src = np.minimum(t - 1, np.floor(np.arange(n_out) * fps / out_fps).astype(int))
    centres = (np.asarray(win.starts) + win.length / 2) / rate
    which = np.abs(np.arange(n_out)[:, None] / out_fps - centres[None]).argmin(1)
    layers = {
        k: heat_layer(
            equirect_heat(located.scores[k], located.grid, w, h),
            peak_direction(located.scores[k], located.grid),
        )
        for k in np.unique(which)
    }
    video = frames if np.array_equal(src, np.arange(t)) else frames[src]
    for j in range(n_out):
        video[j] = blend(video[j], layers[which[j]])
    write_mp4(out, video, out_fps, audio=located.clips.audio_float(0)[:1], audio_rate=rate)
    return Path(out)


def write_heat_png(
    located: Located, frame: np.ndarray, out: str | Path, sources: list[dict] | None = None
) -> Path:
    """Write ``out``: the overall heat map over ``frame`` (the middle one), azimuth and elevation
    axes, the peak (white cross) and, when given, the true ``sources`` (cyan circles)."""
    from avrepro.figures import new_figure, save_png, styled

    h, w = frame.shape[:2]
    yaw, pitch = peak_direction(located.overall, located.grid)
    image = blend(frame, heat_layer(equirect_heat(located.overall, located.grid, w, h), (yaw, pitch)))
    with styled():
        fig = new_figure((8.0, 4.6))
        ax = fig.subplots()
        ax.imshow(image, extent=(180, -180, -90, 90), aspect="auto", interpolation="bilinear")
        for s in sources or []:
            ax.scatter([s["azimuth_deg"]], [s["elevation_deg"]], s=90, facecolors="none", edgecolors="cyan")
            ax.annotate(
                s.get("class", ""),
                (s["azimuth_deg"], s["elevation_deg"]),
                color="cyan",
                xytext=(0, 9),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
        ax.set_xticks(range(180, -181, -45))
        ax.set_yticks(range(-90, 91, 45))
        ax.set_xlabel("azimuth (deg, +90 = left)")
        ax.set_ylabel("elevation (deg)")
        ax.grid(False)
        n = len(located.windows.starts)
        ax.set_title(
            f"where the sound comes from: peak azimuth {yaw:.0f} deg, elevation {pitch:.0f} deg "
            f"({located.score} score, mean of {n} window{'s' * (n != 1)})"
        )
        return save_png(fig, out)


def locate_summary(located: Located) -> dict:
    """The peak direction of every window and of the overall map, and what was scored."""
    rate, grid, win = located.clips.sample_rate, located.grid, located.windows
    windows = []
    for start, scores in zip(win.starts, located.scores, strict=True):
        yaw, pitch = peak_direction(scores, grid)
        windows.append(
            {
                "start_s": start / rate,
                "end_s": (start + win.length) / rate,
                "peak_yaw_deg": yaw,
                "peak_pitch_deg": pitch,
            }
        )
    yaw, pitch = peak_direction(located.overall, grid)
    clip = located.clips.clips[0]
    return {
        "video": str(clip.video_path),
        "foa": str(clip.audio_path),
        "score": located.score,
        "window_s": win.length / rate,
        "hop_s": win.hop / rate,
        "grid": {"yaws_deg": list(grid.yaws), "pitches_deg": list(grid.pitches), "fov_deg": grid.fov_deg},
        "windows": windows,
        "overall": {"peak_yaw_deg": yaw, "peak_pitch_deg": pitch},
    }


def write_outputs(
    located: Located,
    out: str | Path,
    png: str | Path | None,
    display_width: int,
    sources: list[dict] | None = None,
) -> None:
    """The heat-map video ``out`` and, when ``png`` is given, the overall heat-map image."""
    frames = display_frames(located, display_width)
    middle = frames[len(frames) // 2].copy()
    write_heat_video(located, frames, out)
    if png:
        write_heat_png(located, middle, png, sources)


def run_locate(model: SpatialModel, cfg: dict, args, *, progress: bool = True) -> dict:
    """``avrepro locate``: locate, write the video (and the PNG, the JSON), return the summary."""
    opts = LocateOptions(args.window, args.hop, args.yaw_step, args.pitch_step, args.fov, args.score)
    located = locate(model, cfg, args.video, args.foa, opts, progress=progress)
    write_outputs(located, args.out, args.png, args.display_width)
    summary = {**locate_summary(located), "out": str(args.out), "png": str(args.png) if args.png else None}
    if args.json:
        write_json(args.json, summary)
    return summary


def source_errors(yaw: float, pitch: float, sources: list[dict]) -> tuple[float, float]:
    """Great-circle and azimuth-only angles in degrees from ``(yaw, pitch)`` to the nearest of
    ``sources`` (each with ``azimuth_deg``, ``elevation_deg``; NaN without sources)."""
    if not sources:
        return math.nan, math.nan
    peak = Viewpoint(yaw, pitch, 0.0, 0.0)
    great = min(
        angular_distance(peak, Viewpoint(s["azimuth_deg"], s["elevation_deg"], 0.0, 0.0)) for s in sources
    )
    azim = min(abs((yaw - s["azimuth_deg"] + 180.0) % 360.0 - 180.0) for s in sources)
    return float(great), float(azim)


def run_demo(
    model: SpatialModel, cfg: dict, clips: list[dict], out_dir: Path, *, progress: bool = True
) -> dict:
    """``locate`` with the default options on each test clip: ``<clip>_heatmap.mp4`` (W channel as
    sound) and ``<clip>_heatmap.png`` in ``out_dir``; numbers: the overall peak and, when the
    meta has the sources, the angle to the nearest one."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items, errors = [], []
    for clip in clips:
        cid = str(clip["clip_id"])
        located = locate(model, cfg, clip["video"], clip["audio"], LocateOptions(), progress=progress)
        sources = view360_meta_sources(clip.get("meta"))
        files = [f"{cid}_heatmap.mp4", f"{cid}_heatmap.png"]
        write_outputs(located, out_dir / files[0], out_dir / files[1], DISPLAY_WIDTH, sources)
        yaw, pitch = peak_direction(located.overall, located.grid)
        numbers = {"peak_yaw_deg": yaw, "peak_pitch_deg": pitch}
        if sources:
            great, azim = source_errors(yaw, pitch, sources)
            numbers.update(error_deg=great, yaw_error_deg=azim)
            errors.append((great, azim))
        items.append(
            {
                "title": f"where the sound comes from in clip {cid}",
                "clip": cid,
                "files": files,
                "numbers": numbers,
            }
        )
    summary = {"clips": float(len(items))}
    if errors:
        great, azim = np.asarray(errors).T
        summary.update(
            mean_error_deg=float(great.mean()),
            mean_yaw_error_deg=float(azim.mean()),
            within_30_deg=float((great <= 30).mean()),
            within_45_deg=float((great <= 45).mean()),
        )
    return {"items": items, "summary": summary}
