"""Shared conversion of real clips into the raw layout of the pipeline.

A clip (one video, one audio file) becomes ``videos/<id>.mp4`` at the dataset's frame rate (frames
picked at the nearest source timestamp; frames larger than ``frame_width`` x ``frame_height``
resized to it, smaller ones kept), ``<audio_dir>/<id>.wav`` resampled to ``sample_rate`` (16-bit
PCM) and ``meta/<id>.json``. A video already at the right rate and size is copied byte for byte.
Clips that cannot be converted are listed in ``download_report.csv`` with the reason (naming the
source file), never a crash; a full disk stops the run. Source files are matched by extension in any
case (``.MP4``, ``.WAV``); a name that breaks the clip-name rule, or a file of another extension, is
listed there too.
"""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import shutil
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly
from tqdm import tqdm

from avrepro.data.verify import AUDIO_EXT, VIDEO_EXT, clip_name_problem, has_ext, unused_files, unused_reason
from avrepro.io import NoSpaceError, atomic_path, write_json
from avrepro.media import (
    MediaError,
    average_fps,
    open_media,
    probe_mp4,
    read_mp4_frames,
    read_wav,
    video_stream,
    write_mp4,
    write_wav,
)
from avrepro.video.projection import eac_to_equirect, source_projection

REPORT_NAME = "download_report.csv"
REPORT_COLUMNS = ["clip_id", "file", "reason"]


def target_size(width: int, height: int, cfg: Mapping[str, Any]) -> tuple[int, int]:
    """Frame size to store: the configured size when the source is larger, else the source's
    (rounded down to even numbers for H.264)."""
    fw, fh = cfg.get("frame_width"), cfg.get("frame_height")
    if fw and fh and (width > fw or height > fh):
        width, height = int(fw), int(fh)
    return width - width % 2, height - height % 2


def pick_frames(n_in: int, fps_in: float, fps_out: float) -> np.ndarray:
    """Indices of the source frames nearest to ``fps_out`` timestamps over the same duration."""
    n_out = max(1, int(math.floor(n_in * fps_out / fps_in + 1e-6)))
    idx = np.rint(np.arange(n_out) * fps_in / fps_out).astype(int)
    return np.minimum(idx, n_in - 1)


def decode_frames(path: str | Path, cfg: Mapping[str, Any], t_end: float | None = None) -> np.ndarray:
    """Frames at ``cfg["fps"]`` (each target time takes the source frame shown then), resized to at
    most ``frame_width`` x ``frame_height``, up to ``t_end`` seconds: ``(T, H, W, 3)`` uint8. With
    ``cfg["projection"]`` (360 datasets) an equi-angular cubemap is converted to equirectangular
    (:mod:`avrepro.video.projection`); a frame of neither projection is a :class:`MediaError`."""
    path = Path(path)
    fps = float(cfg["fps"])
    frames, next_t, t0 = [], 0.0, None
    with open_media(path, "corrupt or truncated video") as container:
        stream = video_stream(container, path)
        to_rgb = _frame_converter(stream.codec_context.width, stream.codec_context.height, cfg, path)
        rate = average_fps(stream, default=fps)
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else len(frames) / rate
            t0 = t if t0 is None else t0
            t -= t0
            if t_end is not None and t >= t_end:
                break
            img = None
            while next_t < t + 1.0 / rate - 1e-6:
                if img is None:
                    img = to_rgb(frame)
                frames.append(img)
                next_t = len(frames) / fps
    if not frames:
        raise MediaError(path, "no decodable video frame")
    return np.stack(frames)


def _frame_converter(width: int, height: int, cfg: Mapping[str, Any], path: Path):
    """``frame -> (H, W, 3)`` uint8 RGB at the stored size (an EAC frame: equirect at the size of
    the equirect of its width)."""
    projection = cfg.get("projection")
    if projection and source_projection(width, height, projection, path) == "eac":
        size = target_size(width, width // 2, cfg)
        return lambda frame: eac_to_equirect(frame.to_ndarray(format="rgb24"), size)
    size = target_size(width, height, cfg)
    return lambda frame: frame.reformat(
        width=size[0], height=size[1], format="rgb24", interpolation="AREA"
    ).to_ndarray(format="rgb24")


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return audio
    frac = Fraction(int(rate_out), int(rate_in))
    return resample_poly(audio, frac.numerator, frac.denominator, axis=-1).astype(np.float32)


def convert_clip(
    clip_id: str,
    video_in: str | Path,
    audio_in: str | Path,
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    audio_dir: str = "binaural_audios",
    channels: int | None = None,
    meta: Mapping[str, Any] | None = None,
) -> dict:
    """Convert one clip; returns its meta. Raises :class:`MediaError` naming the bad file.

    ``cfg``: ``sample_rate``, ``fps``, optional ``frame_width``/``frame_height``.
    ``channels``: mix down to mono (1) or keep (None); ``meta``: extra meta fields (``group``...).
    """
    out_dir = Path(out_dir)
    rate, fps = int(cfg["sample_rate"]), float(cfg["fps"])
    audio, rate_in = read_wav(audio_in)
    if channels == 1 and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True)
    elif channels and audio.shape[0] != channels:
        raise MediaError(audio_in, f"{audio.shape[0]}-channel audio where {channels} channels are expected")
    audio = resample(audio, rate_in, rate)
    probe = probe_mp4(video_in)
    fps_in = probe["fps"]
    if not (math.isfinite(fps_in) and fps_in > 0):
        raise MediaError(video_in, "unknown frame rate")
    width, height = target_size(int(probe["width"]), int(probe["height"]), cfg)
    video_out = out_dir / "videos" / f"{clip_id}.mp4"
    as_is = abs(fps_in - fps) < 1e-3 and (width, height) == (probe["width"], probe["height"])
    if cfg.get("projection"):  # 360 video: its projection checked (an EAC one converted)
        native = source_projection(int(probe["width"]), int(probe["height"]), cfg["projection"], video_in)
        as_is = as_is and native == "equirect"
    if as_is:
        with atomic_path(video_out) as tmp:
            shutil.copyfile(video_in, tmp)
        n_frames = int(probe["frames"])
    else:
        frames = _read_frames(video_in, fps_in, (width, height), cfg)
        n_frames, (height, width) = len(frames), frames.shape[1:3]
        write_mp4(video_out, frames, fps=int(round(fps)))
        del frames
    write_wav(out_dir / audio_dir / f"{clip_id}.wav", audio, rate)
    info = {
        "clip_id": clip_id,
        "group": clip_id,
        "fps": fps,
        "sample_rate": rate,
        "duration_s": round(audio.shape[1] / rate, 6),
        "channels": int(audio.shape[0]),
        "n_frames": n_frames,
        "frame_size": [width, height],
        "source_video": Path(video_in).name,
        "source_audio": Path(audio_in).name,
        "source_fps": fps_in,
        "source_sample_rate": rate_in,
    }
    info.update(dict(meta or {}))
    write_json(out_dir / "meta" / f"{clip_id}.json", info)
    return info


def _read_frames(
    video: str | Path, fps_in: float, size: tuple[int, int], cfg: Mapping[str, Any]
) -> np.ndarray:
    """A clip's frames at ``cfg["fps"]`` and ``size`` (360 video: through :func:`decode_frames`)."""
    if cfg.get("projection"):
        return decode_frames(video, cfg)
    frames, _ = read_mp4_frames(video, size=size, strict=True)
    return frames[pick_frames(len(frames), fps_in, float(cfg["fps"]))]


def _convert_job(args) -> tuple[str, dict | None, list[tuple[str, str]]]:
    clip_id, video_in, audio_in, out_dir, cfg, audio_dir, channels, meta = args
    try:
        return clip_id, convert_clip(clip_id, video_in, audio_in, out_dir, cfg, audio_dir, channels, meta), []
    except MediaError as exc:
        return clip_id, None, [(exc.path, exc.reason.replace(exc.path, Path(exc.path).name))]
    except NoSpaceError:
        raise
    except (OSError, ValueError) as exc:
        return clip_id, None, [("", f"{exc.__class__.__name__}: {exc}")]


def convert_clips(
    jobs: Iterable[tuple[str, Path, Path, Mapping | None]],
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    audio_dir: str = "binaural_audios",
    channels: int | None = None,
    workers: int = 1,
    progress: bool = True,
    desc: str = "convert",
) -> tuple[list[str], list[dict]]:
    """Convert ``(clip_id, video, audio, extra meta)`` jobs; returns (converted ids, issue rows)."""
    args = [(c, str(v), str(a), str(out_dir), dict(cfg), audio_dir, channels, m) for c, v, a, m in jobs]
    done, issues = [], []
    bar = tqdm(total=len(args), desc=desc, unit="clip", file=sys.stderr, disable=not progress, leave=False)
    with bar:
        if workers > 1 and len(args) > 1:
            with ProcessPoolExecutor(min(workers, len(args)), mp_context=mp.get_context("spawn")) as pool:
                results = list(_tick(pool.map(_convert_job, args, chunksize=4), bar))
        else:
            results = list(_tick(map(_convert_job, args), bar))
    for clip_id, meta, clip_issues in results:
        if meta is not None:
            done.append(clip_id)
        issues += [{"clip_id": clip_id, "file": f, "reason": r} for f, r in clip_issues]
    return done, issues


def _tick(results, bar):
    for r in results:
        bar.update(1)
        yield r


def write_report(out_dir: str | Path, rows: list[dict], columns: list[str] = REPORT_COLUMNS) -> Path:
    """``<out_dir>/download_report.csv``: clips or videos that could not be fetched or converted."""
    path = Path(out_dir) / REPORT_NAME
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def by_clip_name(paths: list[Path]) -> tuple[dict[str, Path], list[dict]]:
    """``paths`` by clip name (the file's stem), and issue rows for those not used: a name that
    breaks the clip-name rule, or a second file of one name."""
    files: dict[str, Path] = {}
    issues = []
    for path in paths:
        problem = clip_name_problem(path.stem)
        if path.stem in files:
            problem = f"not used: {files[path.stem].name} has the same clip name"
        if problem:
            issues.append({"clip_id": path.stem, "file": str(path), "reason": problem})
        else:
            files[path.stem] = path
    return files, issues


def user_folder(cfg: Mapping[str, Any], name: str, what: str) -> Path:
    """The folder of params ``datasets.<name>.path``; a clear error when it is not set (``what``
    says what to point it at) or not a folder."""
    if not cfg.get("path"):
        raise ValueError(f"datasets.{name}.path is not set: point it at {what}")
    folder = Path(cfg["path"]).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: datasets.{name}.path is not a folder")
    return folder


def media_by_clip(folder: Path, ext: str) -> tuple[dict[str, Path], list[dict]]:
    """The ``*<ext>`` files of ``folder`` (any case of the extension) by clip name, and issue rows
    for what is not used: a name that breaks the clip-name rule, a second file of one name, an
    entry of another extension (also counted in one printed warning)."""
    if not folder.is_dir():
        return {}, []
    files, issues = by_clip_name(sorted(p for p in folder.iterdir() if p.is_file() and has_ext(p, ext)))
    others = unused_files(folder, ext)
    issues += [{"clip_id": "", "file": str(p), "reason": unused_reason(folder.name, ext)} for p in others]
    if others:
        print(f"warning: {len(others)} file(s) in {folder} not used (not {ext}), e.g. {others[0].name}")
    return files, issues


def pair_clips(video_dir: Path, audio_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[dict]]:
    """Match ``<id>.mp4`` with ``<id>.wav`` (extensions in any case); ids with only one of the two,
    and files that are not used (:func:`media_by_clip`), become issue rows naming the file."""
    videos, issues = media_by_clip(video_dir, VIDEO_EXT)
    audios, audio_issues = media_by_clip(audio_dir, AUDIO_EXT)
    pairs = [(c, videos[c], audios[c]) for c in sorted(set(videos) & set(audios))]
    issues += audio_issues
    issues += [
        {
            "clip_id": c,
            "file": str(videos[c]),
            "reason": f"no audio for this video (no {audio_dir.name}/{c}{AUDIO_EXT})",
        }
        for c in sorted(set(videos) - set(audios))
    ]
    issues += [
        {
            "clip_id": c,
            "file": str(audios[c]),
            "reason": f"no video for this audio (no {video_dir.name}/{c}{VIDEO_EXT})",
        }
        for c in sorted(set(audios) - set(videos))
    ]
    return pairs, issues


def copy_splits(src: Path | None, dst: Path) -> list[str]:
    """Copy a ``splits/`` tree (``<name>/{train,val,test}.{h5,txt}`` only); returns split names."""
    if src is None or not src.is_dir():
        return []
    names = set()
    for f in sorted(src.rglob("*")):
        if f.is_file() and f.suffix in (".h5", ".txt") and f.stem in ("train", "val", "test"):
            rel = f.relative_to(src)
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dst / rel)
            names.add(rel.parent.as_posix())
    return sorted(names)
