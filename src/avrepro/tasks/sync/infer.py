"""The sync task on any video (``avrepro sync VIDEO``) and the DAG's demo of it.

Sign: ``offset_s`` > 0 means the audio is late (a sound is heard ``offset_s`` after what makes it
is seen); re-aligning advances the audio by ``offset_s``.

The scan: the video's frames are resampled to the model's frame rate and up to ``windows`` video
windows of ``sample.seconds`` are spread evenly over it; each window is scored with the audio
shifted by every candidate shift the clip holds for it, from -max_shift to +max_shift in steps of
one frame. A (window, shift) is the evaluation's example (:func:`~.data.frames_tensor`,
:func:`~.data.mono_window`: the audio window starts ``shift`` frames after the video window). A
shift's score is the mean over its windows of the net's probability that the audio is in sync,
``sigmoid(-logit)``; the offset is the shift with the highest score, the confidence that score
minus the median score of the scan. (Scoring every shift on only the windows that hold all of
them recovered fewer known offsets on the validation clips: 75 % within one frame against 87 %.)
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from scipy.special import expit
from tqdm import tqdm

from avrepro.config import ParamsError, load_params
from avrepro.data.media_clips import MediaClips, decode_clip
from avrepro.figures.demo import write_demo_mp4
from avrepro.io import write_json
from avrepro.media import MediaError, read_media_audio, read_mp4_frames, read_wav, replace_audio, write_mp4
from avrepro.tasks.sync.cam import display_map, upsample
from avrepro.tasks.sync.data import Geometry, frames_tensor, mono_window, window_frames
from avrepro.tasks.sync.evaluate import ModelScorer
from avrepro.tasks.sync.figures import aac_rate, overlay

SIGN = "positive: the audio is late (heard after it is seen); re-aligning advances it by offset_s"
DEMO_MAX_OFFSET_S = 0.4  # the demo's largest known offset (cut to what a clip leaves room for)

Score = Callable[[dict], np.ndarray]
"""What scores one example (``frames (3, T, H, W)``, ``audio (K, N)``): its K logits (evidence that
the audio is shifted), float64."""


@dataclass(frozen=True)
class ScanPlan:
    """Where the scan looks: window geometry, candidate shifts and window starts (frames)."""

    geo: Geometry
    shifts: tuple[int, ...]
    starts: tuple[int, ...]
    audio_room: int  # last audio window start (frames)


# -- input -------------------------------------------------------------------------------------


def model_fps(cfg: dict, fps: float | None, params: str | Path, profile: str | None) -> float:
    """The frame rate the model was trained at: ``fps`` when given, else its dataset's ``fps`` in
    ``params`` (the sync section's ``dataset``, a top-level or a ``datasets`` entry)."""
    if fps:
        return float(fps)
    try:
        full = load_params(params, {"profile": profile} if profile else None)
    except ParamsError as exc:
        raise ValueError(f"{exc} (the model's frame rate is read from it: pass --fps)") from None
    dataset = cfg.get("dataset") or full["sync"]["dataset"]
    entry = full.get(dataset) or (full.get("datasets") or {}).get(dataset) or {}
    if not entry.get("fps"):
        raise ValueError(f"{params}: no fps for the dataset {dataset!r} (pass --fps)")
    return float(entry["fps"])


def resample_frames(frames: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Frames at ``fps_out``: frame k is the source frame on screen at time ``k / fps_out``."""
    if math.isclose(fps_in, fps_out, rel_tol=1e-4):
        return frames
    n = max(1, int(math.floor(len(frames) / fps_in * fps_out + 1e-6)))
    index = np.floor(np.arange(n) * (fps_in / fps_out) + 1e-6).astype(int)
    return frames[np.minimum(index, len(frames) - 1)]


def load_clip(video: str | Path, cfg: dict, fps: float, audio: str | Path | None = None) -> MediaClips:
    """``video`` (its sound from the wav ``audio`` when given) decoded as the cache stores clips,
    its frames resampled to the model's ``fps``.

    Raises:
        MediaError: the file is missing, not a video, or has no audio stream.
    """
    feats = cfg["features"]
    size = (feats["frame_width"], feats["frame_height"])
    try:
        clip = decode_clip(video, feats["sample_rate"], size, audio=audio)
    except MediaError as exc:
        if exc.reason != "no audio stream":
            raise
        raise MediaError(exc.path, "no audio stream (give its sound with --audio WAV)") from None
    clip = replace(clip, frames=resample_frames(clip.frames, clip.fps, fps), fps=float(fps))
    return MediaClips([clip], feats["sample_rate"])


# -- the scan ----------------------------------------------------------------------------------


def plan_scan(clips: MediaClips, scfg: dict, max_shift: float | None, windows: int) -> ScanPlan:
    """The scan of clip 0: shifts of up to ``max_shift`` s (default: the training's largest shift,
    ``sample.shift_seconds[1]``, reduced to half of what the clip leaves beyond one window, so
    that every shift keeps about half of the windows or more), and up to ``windows`` video
    windows spread evenly over the clip (with one more for a shift none of them holds).

    Raises:
        ValueError: ``max_shift`` under one frame or ``windows`` < 1.
        MediaError: the clip is too short for one window with the audio shifted by the range
            (by default: by the smallest shift the model was trained on, both ways).
    """
    fps, info = clips.fps, clips.info(0)
    if windows < 1:
        raise ValueError(f"--windows {windows}: at least one window")
    f = window_frames(scfg, fps)
    spf = clips.sample_rate / fps
    n = int(round(f * spf))
    video_room = info["n_frames"] - f
    audio_room = int(math.floor((info["n_samples"] - n) / spf + 1e-9))
    room = min(video_room, audio_room)  # the largest shift one window holds
    lo_s, hi_s = scfg["shift_seconds"]
    if max_shift is None:
        need = max(1, math.ceil(lo_s * fps - 1e-9))
        shift, fits = max(need, min(int(math.floor(hi_s * fps + 1e-9)), room // 2)), room >= 2 * need
    else:
        need = shift = int(round(max_shift * fps))
        if shift < 1:
            raise ValueError(
                f"--max-shift {max_shift:g}: at least one frame ({1 / fps:.3g} s at {fps:g} fps)"
            )
        fits = room >= need
    if not fits:
        raise MediaError(info["video"], too_short(info, clips.sample_rate, fps, f, need, max_shift is None))
    starts = set(np.round(np.linspace(0, video_room, min(windows, video_room + 1))).astype(int).tolist())
    for s in range(-shift, shift + 1):
        lo, hi = max(0, -s), min(video_room, audio_room - s)
        if not any(lo <= v <= hi for v in starts):
            starts.add((lo + hi) // 2)
    geo = Geometry(f, n, spf, video_room, ())
    return ScanPlan(geo, tuple(range(-shift, shift + 1)), tuple(sorted(starts)), audio_room)


def too_short(info: dict, rate: int, fps: float, f: int, need: int, default: bool) -> str:
    """Why a clip cannot be scanned: its durations against one window plus the shift range."""
    why = (
        "the smallest shift the model was trained to detect, sample.shift_seconds[0], both ways"
        if default
        else "a smaller --max-shift needs less"
    )
    return (
        f"too short: {info['n_frames'] / fps:.2f} s of video and {info['n_samples'] / rate:.2f} s of "
        f"audio; one {f / fps:g} s window with the audio shifted by ±{need / fps:g} s ({why}) needs "
        f"{(f + (2 if default else 1) * need) / fps:.2f} s of both"
    )


def held_shifts(plan: ScanPlan, start: int) -> list[int]:
    """The shifts whose audio window fits the clip for the video window at ``start``."""
    return [s for s in plan.shifts if 0 <= start + s <= plan.audio_room]


def scan_example(clips: MediaClips, scfg: dict, geo: Geometry, start: int, shifts) -> dict:
    """The evaluation's example of the video window at ``start`` with one audio track per shift."""
    tracks = [
        mono_window(clips, 0, int(round((start + s) * geo.samples_per_frame)), geo.samples, scfg["rms"])
        for s in shifts
    ]
    return {
        "frames": frames_tensor(clips.frames(0)[start : start + geo.frames]),
        "audio": torch.from_numpy(np.stack(tracks)),
    }


def net_score(model: torch.nn.Module) -> Score:
    """The sync net's logits of one example (evidence that each track is shifted)."""
    device = next(model.parameters()).device

    @torch.no_grad()
    def score(example: dict) -> np.ndarray:
        logits = model(example["frames"][None].to(device), example["audio"][None].to(device))
        return logits[0].float().cpu().numpy().astype(np.float64)

    return score


def scan(
    score: Score, clips: MediaClips, scfg: dict, plan: ScanPlan, chunk: int, progress: bool
) -> np.ndarray:
    """Logits ``(windows, shifts)``, NaN where the window does not hold the shift; ``chunk`` audio
    tracks per call of ``score``."""
    logits = np.full((len(plan.starts), len(plan.shifts)), np.nan)
    first = plan.shifts[0]
    for row, start in enumerate(tqdm(plan.starts, desc="sync scan", disable=not progress)):
        held = held_shifts(plan, start)
        for k in range(0, len(held), chunk):
            part = held[k : k + chunk]
            logits[row, part[0] - first : part[-1] - first + 1] = score(
                scan_example(clips, scfg, plan.geo, start, part)
            )
    return logits


def estimate(logits: np.ndarray, shifts, fps: float) -> dict:
    """The offset from the scan's logits ``(windows, shifts)`` (NaN: not scored): per shift, the
    mean over its windows of the probability that the audio is in sync; the best shift; its
    confidence (best minus median score)."""
    scores = np.nanmean(expit(-np.asarray(logits, dtype=np.float64)), axis=0)
    best = int(np.argmax(scores))
    median = float(np.median(scores))
    return {
        "offset_s": round(shifts[best] / fps, 6),
        "offset_frames": int(shifts[best]),
        "confidence": float(scores[best]) - median,
        "best_score": float(scores[best]),
        "median_score": median,
        "shifts_s": [round(s / fps, 6) for s in shifts],
        "scores": [float(s) for s in scores],
    }


# -- outputs -----------------------------------------------------------------------------------


def advance(audio: np.ndarray, samples: int) -> np.ndarray:
    """``(C, N)`` audio advanced by ``samples`` (``out[t] = audio[t + samples]``, silence where it
    runs out); a negative count delays it."""
    out = np.zeros_like(audio)
    n = audio.shape[1]
    if samples >= 0:
        out[:, : max(0, n - samples)] = audio[:, samples:]
    else:
        out[:, -samples:] = audio[:, : max(0, n + samples)]
    return out


def playable(audio: np.ndarray, rate: int, channels: int = 0) -> tuple[np.ndarray, int]:
    """``(C, N)`` audio as AAC takes it: mono (more than two channels mixed down) or stereo, or
    exactly ``channels`` (1 or 2) when given, at an AAC sample rate."""
    want = channels or (audio.shape[0] if audio.shape[0] <= 2 else 1)
    if audio.shape[0] != want:
        audio = np.repeat(audio.mean(axis=0, keepdims=True), want, axis=0)
    resampled = [aac_rate(ch, rate) for ch in audio]
    return np.stack([ch for ch, _ in resampled]).astype(np.float32), resampled[0][1]


def source_audio(clips: MediaClips) -> tuple[np.ndarray, int]:
    """Clip 0's sound at its own sample rate and channels (the wav of ``--audio`` or the video's)."""
    clip = clips.clips[0]
    if clip.audio_path != clip.video_path:
        return read_wav(clip.audio_path)
    return read_media_audio(clip.video_path)


def write_realigned(clips: MediaClips, offset_s: float, out: str | Path) -> Path:
    """The video with its sound advanced by ``offset_s`` (the video stream copied as is)."""
    audio, rate = source_audio(clips)
    audio, rate = playable(advance(audio, int(round(offset_s * rate))), rate)
    replace_audio(clips.clips[0].video_path, audio, rate, out)
    return Path(out)


def cam_frames(model, clips: MediaClips, scfg: dict, plan: ScanPlan, shift: int, batch: int) -> np.ndarray:
    """|CAM| over every frame ``(T, H, W)`` with the audio shifted by ``shift`` frames: windows at
    that shift tile the clip (half a window apart), each window's |CAM| upsampled to its frames,
    averaged where windows overlap (zero where none reaches)."""
    geo, n_frames = plan.geo, clips.info(0)["n_frames"]
    lo, hi = max(0, -shift), min(plan.geo.max_start, plan.audio_room - shift)
    starts = sorted(set(range(lo, hi + 1, max(1, geo.frames // 2))) | {hi})
    w, h = clips.frame_size
    total, count = np.zeros((n_frames, h, w)), np.zeros(n_frames)
    scorer = ModelScorer(model)
    for b in range(0, len(starts), batch):
        chunk = starts[b : b + batch]
        _, cams = scorer.scores([scan_example(clips, scfg, geo, v, (shift,)) for v in chunk], batch)
        for v, cam in zip(chunk, cams, strict=True):
            total[v : v + geo.frames] += upsample(np.abs(cam[0]), (geo.frames, h, w))
            count[v : v + geo.frames] += 1
    return total / np.maximum(count, 1)[:, None, None]


def write_cam_video(
    model, clips: MediaClips, scfg: dict, plan: ScanPlan, offset: int, out, batch: int
) -> Path:
    """The frames with the net's |CAM| at the estimated offset over them (displayed as the
    official code does), and the re-aligned sound."""
    heat = cam_frames(model, clips, scfg, plan, offset, batch)
    over = overlay(clips.frames(0), display_map(heat))
    sound = advance(clips.audio_float(0), int(round(offset * plan.geo.samples_per_frame)))
    sound, rate = playable(sound, clips.sample_rate, channels=2)
    caption = f"sync CAM, audio re-aligned by {offset / clips.fps:+.2f} s"
    return write_demo_mp4(over, clips.fps, sound, rate, out, caption=caption)


# -- the verb ----------------------------------------------------------------------------------


def eval_batch(cfg: dict) -> int:
    """The evaluation's batch size (``eval.batch_size``; 16 without an ``eval`` section)."""
    return int((cfg.get("eval") or {}).get("batch_size", 16))


def sync_video(
    model,
    cfg: dict,
    clips: MediaClips,
    *,
    max_shift: float | None = None,
    windows: int = 16,
    score: Score | None = None,
    progress: bool = True,
) -> tuple[dict, np.ndarray, ScanPlan]:
    """Scan clip 0 of ``clips`` with the net (or ``score``): the estimate (:func:`estimate`) with
    the scan's settings, the logits ``(windows, shifts)`` and the plan."""
    scfg = cfg["sample"]
    plan = plan_scan(clips, scfg, max_shift, windows)
    chunk = 2 * eval_batch(cfg)  # audio tracks per forward pass: the evaluation's batch of pairs
    logits = scan(score or net_score(model), clips, scfg, plan, chunk, progress)
    fps = clips.fps
    result = {
        **estimate(logits, plan.shifts, fps),
        "sign": SIGN,
        "fps": fps,
        "step_s": 1 / fps,
        "max_shift_s": plan.shifts[-1] / fps,
        "n_shifts": len(plan.shifts),
        "window_s": plan.geo.frames / fps,
        "n_windows": len(plan.starts),
    }
    return result, logits, plan


def infer_sync(model, cfg: dict, args: argparse.Namespace, progress: bool = True) -> dict:
    """``avrepro sync``: the estimate, and the files ``args`` asks for (``-o``, ``--cam``, ``--json``)."""
    fps = model_fps(cfg, args.fps, args.params, args.profile)
    clips = load_clip(args.video, cfg, fps, args.audio)
    result, logits, plan = sync_video(
        model, cfg, clips, max_shift=args.max_shift, windows=args.windows, progress=progress
    )
    summary = {"video": str(args.video), **result}
    if args.out:
        summary["realigned"] = str(write_realigned(clips, result["offset_s"], args.out))
    if args.cam:
        summary["cam"] = str(
            write_cam_video(
                model, clips, cfg["sample"], plan, result["offset_frames"], args.cam, eval_batch(cfg)
            )
        )
    if args.json:
        scored = {
            "window_starts_s": [round(s / fps, 6) for s in plan.starts],
            "window_logits": [[None if math.isnan(x) else x for x in row] for row in logits.tolist()],
            "windows_per_shift": np.isfinite(logits).sum(axis=0).tolist(),
        }
        write_json(args.json, {**summary, **scored})
        summary["json"] = str(args.json)
    return summary


# -- known offsets: the demo (and benchmarks/sync_offsets.py) ------------------------------------


def offset_media(
    frames: np.ndarray, audio: np.ndarray, fps: float, rate: int, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """A clip with its audio late by ``offset`` frames (early when negative), cut to the span both
    tracks cover (no silence added): the video from ``offset`` frames on with the audio from the
    start, or the reverse. ``frames (T, H, W, 3)``, ``audio (C, N)``."""
    cut = abs(int(offset))
    keep = len(frames) - cut
    n, skip = int(round(keep * rate / fps)), int(round(cut * rate / fps))
    if offset >= 0:
        return frames[cut:], audio[:, :n]
    return frames[:keep], audio[:, skip : skip + n]


def write_offset_clip(
    frames: np.ndarray, fps: float, audio: np.ndarray, rate: int, offset: int, out: str | Path
) -> Path:
    """An mp4 (H.264 + AAC) of the clip with its audio late by ``offset`` frames (:func:`offset_media`)."""
    frames, audio = offset_media(frames, audio, fps, rate, offset)
    audio, rate = playable(audio, rate)
    write_mp4(out, frames, int(round(fps)), audio=audio, audio_rate=rate)
    return Path(out)


def demo_offset(k: int, n_frames: int, window: int, fps: float) -> int:
    """The known offset (frames) of the demo's ``k``-th clip: +m, -m, +m/2, -m/2, ... with ``m``
    :data:`DEMO_MAX_OFFSET_S`, cut so that the shortened clip still holds a scan of ±(m + 1)."""
    top = max(1, min(int(round(DEMO_MAX_OFFSET_S * fps)), (n_frames - window - 2) // 3))
    size = top if k % 4 < 2 else max(1, top // 2)
    return size if k % 2 == 0 else -size


def demo_item(model, cfg: dict, clip: dict, k: int, out_dir: Path, progress: bool) -> tuple[dict, bool]:
    """One demo clip: its audio shifted by a known offset, the scan, the re-aligned and CAM videos;
    the report's item and whether the estimate is within one frame of the truth."""
    cid = clip["clip_id"]
    frames, fps = read_mp4_frames(clip["video"])
    audio, rate = read_wav(clip["audio"])
    offset = demo_offset(k, len(frames), window_frames(cfg["sample"], fps), fps)
    names = [f"{cid}_shifted.mp4", f"{cid}_realigned.mp4", f"{cid}_cam.mp4"]
    write_offset_clip(frames, fps, audio, rate, offset, out_dir / names[0])
    media = load_clip(out_dir / names[0], cfg, fps)
    result, _, plan = sync_video(model, cfg, media, progress=progress)
    write_realigned(media, result["offset_s"], out_dir / names[1])
    write_cam_video(
        model, media, cfg["sample"], plan, result["offset_frames"], out_dir / names[2], eval_batch(cfg)
    )
    true_s, found = round(offset / fps, 6), result["offset_s"]
    item = {
        "title": f"{cid}: audio shifted by {true_s:+.2f} s, estimated {found:+.2f} s",
        "clip": cid,
        "files": names,
        "numbers": {
            "true_offset_s": true_s,
            "estimated_offset_s": found,
            "error_s": round(found - true_s, 6),
            "confidence": result["confidence"],
        },
    }
    return item, abs(result["offset_frames"] - offset) <= 1


def demo_sync(model, cfg: dict, clips: list[dict], out_dir: Path, progress: bool = True) -> dict:
    """The verb on held-out test clips whose audio the demo shifts by known offsets (alternating
    signs): per clip the shifted input, the re-aligned video and the CAM video, with the true
    and estimated offsets; the summary's mean absolute error and share within one frame."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = [demo_item(model, cfg, clip, k, out_dir, progress) for k, clip in enumerate(clips)]
    items = [item for item, _ in done]
    errors = [abs(item["numbers"]["error_s"]) for item in items]
    summary = {
        "mean_abs_error_s": float(np.mean(errors)) if items else float("nan"),
        "within_one_frame": float(np.mean([hit for _, hit in done])) if items else float("nan"),
        "n_clips": float(len(items)),
    }
    return {"items": items, "summary": summary}
