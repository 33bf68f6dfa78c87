"""YouTube-listed datasets (MUSIC, Kinetics-style lists, YouTube-360): fetch with yt-dlp, cut the
listed segments, convert them into the raw layout; dead or private videos go to the report.

yt-dlp is an optional dependency (``pip install yt-dlp``); it is found as the ``yt-dlp`` command
(or params ``ytdlp``) or as the ``yt_dlp`` module. Whole videos are fetched once into the
downloads folder (no ffmpeg needed for format 18 / single-file mp4) and cut locally.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from avrepro.data.sources._clips import decode_frames, resample, write_report
from avrepro.io import RESUME_DIR, atomic_dir, read_json, resumable_dir, write_json
from avrepro.media import (
    MediaError,
    read_media_audio,
    write_mp4,
    write_wav,
)

WATCH_URL = "https://www.youtube.com/watch?v={id}"
DEFAULT_FORMAT = "18/best[ext=mp4][acodec!=none][vcodec!=none]/best"
#: yt-dlp error text -> the reason written in the report
DEAD_REASONS = [
    ("private video", "private video"),
    ("video unavailable", "video unavailable"),
    ("has been removed", "video removed"),
    ("account associated with this video has been terminated", "account terminated"),
    ("not available in your country", "blocked in this country"),
    ("sign in to confirm your age", "age-restricted"),
    ("members-only", "members-only"),
    ("http error 429", "rate-limited by YouTube (rerun later)"),
    ("too many requests", "rate-limited by YouTube (rerun later)"),
]


class MissingYtDlpError(ValueError):
    """yt-dlp is needed and not installed."""


class SegmentOutside(MediaError):
    """A listed segment starts after the video ends (a short video): skipped, not an issue."""


@dataclass
class Segment:
    """One listed clip: a YouTube id, an optional [start, end) in seconds, a label, a group."""

    video_id: str
    start: float | None = None
    end: float | None = None
    label: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def clip_id(self) -> str:
        if self.start is None:
            return self.video_id
        return f"{self.video_id}-{int(round(self.start))}"


def ytdlp_command(cfg: Mapping[str, Any]) -> list[str]:
    """The yt-dlp command line prefix, or :class:`MissingYtDlpError` saying how to install it."""
    configured = cfg.get("ytdlp") or "yt-dlp"
    parts = shlex.split(str(configured))
    if parts and shutil.which(parts[0]):
        return parts
    if importlib.util.find_spec("yt_dlp") is not None:
        return [sys.executable, "-m", "yt_dlp"]
    raise MissingYtDlpError(
        f"yt-dlp is not installed (needed to fetch YouTube-listed datasets; it is an optional "
        f"dependency): pip install yt-dlp  (looked for the command {parts[0] if parts else 'yt-dlp'!r} "
        f"and the yt_dlp module)"
    )


def classify_failure(stderr: str) -> str:
    text = stderr.lower()
    for needle, reason in DEAD_REASONS:
        if needle in text:
            return reason
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")] or lines
    return ("yt-dlp failed: " + errors[-1][:300]) if errors else "yt-dlp failed"


def fetch_video(
    cmd: list[str], video_id: str, dest: Path, fmt: str = DEFAULT_FORMAT, timeout: float = 900.0
) -> str | None:
    """Download one video to ``dest`` (atomically); ``None`` on success, else the reason."""
    if dest.is_file():
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.part{dest.suffix}")
    args = cmd + [
        "--no-playlist",
        "--quiet",
        "--no-warnings",
        "--no-progress",
        "-f",
        fmt,
        "--merge-output-format",
        dest.suffix.lstrip(".") or "mp4",
        "-o",
        str(tmp),
        "--",
        WATCH_URL.format(id=video_id),
    ]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"yt-dlp timed out after {timeout:.0f} s"
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        return classify_failure(proc.stderr or proc.stdout or "")
    tmp.replace(dest)
    return None


def convert_segment(
    seg: Segment,
    audio: np.ndarray,
    rate_in: int,
    frames: np.ndarray,
    out_dir: Path,
    cfg: Mapping[str, Any],
    audio_dir: str,
) -> dict:
    """Cut ``seg`` out of a decoded video (frames already at ``cfg["fps"]``); write video, audio
    and meta; returns the meta. :class:`SegmentOutside` when it starts after the video ends."""
    rate, fps = int(cfg["sample_rate"]), float(cfg["fps"])
    total_s = min(audio.shape[1] / rate_in, len(frames) / fps)
    start = max(0.0, seg.start or 0.0)
    end = min(total_s, seg.end if seg.end is not None else total_s)
    wanted = (seg.end - start) if seg.end is not None else 0.5
    if end - start < max(0.5, wanted - 0.5):
        raise SegmentOutside(
            seg.video_id, f"segment {start:.1f}-{end:.1f} s is outside the video ({total_s:.1f} s long)"
        )
    a = resample(audio[:, int(round(start * rate_in)) : int(round(end * rate_in))], rate_in, rate)
    sel = frames[int(round(start * fps)) : int(round(end * fps))]
    clip_id = seg.clip_id
    write_mp4(out_dir / "videos" / f"{clip_id}.mp4", sel, fps=int(round(fps)))
    write_wav(out_dir / audio_dir / f"{clip_id}.wav", a, rate)
    meta = {
        "clip_id": clip_id,
        "group": seg.video_id,
        "fps": fps,
        "sample_rate": rate,
        "duration_s": round(a.shape[1] / rate, 6),
        "channels": int(a.shape[0]),
        "n_frames": int(len(sel)),
        "video_id": seg.video_id,
        "start_s": start,
        "end_s": end,
        **({"label": seg.label} if seg.label else {}),
        **seg.extra,
    }
    write_json(out_dir / "meta" / f"{clip_id}.json", meta)
    return meta


def _segments_by_video(segments: Iterable[Segment], cfg: Mapping[str, Any]) -> dict[str, list[Segment]]:
    """The listed segments (the first ``cfg["max_clips"]`` if set) grouped by video, in list order."""
    segments = list(segments)
    if cfg.get("max_clips"):
        segments = segments[: int(cfg["max_clips"])]
    by_video: dict[str, list[Segment]] = {}
    for seg in segments:
        by_video.setdefault(seg.video_id, []).append(seg)
    return by_video


def _decode_video(
    file: Path, segs: list[Segment], cfg: Mapping[str, Any], channels: int | None
) -> tuple[np.ndarray, int, np.ndarray]:
    """A fetched video's audio (mixed to mono if ``channels`` is 1), its rate, and its frames up to
    the last segment's end; :class:`MediaError` if undecodable or with another channel count."""
    audio, rate_in = read_media_audio(file)
    if channels == 1 and audio.shape[0] > 1:
        audio = audio.mean(axis=0, keepdims=True)
    elif channels and audio.shape[0] != channels:
        raise MediaError(file, f"{audio.shape[0]}-channel audio where {channels} channels are expected")
    t_end = None if any(s.end is None for s in segs) else max(s.end for s in segs)
    frames = decode_frames(file, cfg, t_end)
    return audio, rate_in, frames


def _convert_video(
    segs: list[Segment],
    audio: np.ndarray,
    rate_in: int,
    frames: np.ndarray,
    out_dir: Path,
    cfg: Mapping[str, Any],
    audio_dir: str,
    url: str,
    done: list[str],
    issues: list[dict],
) -> None:
    """Convert one video's segments: append converted clip ids to ``done`` and failures to
    ``issues``; segments outside the video are skipped."""
    for seg in segs:
        try:
            convert_segment(seg, audio, rate_in, frames, out_dir, cfg, audio_dir)
            done.append(seg.clip_id)
        except SegmentOutside:
            continue
        except MediaError as exc:
            issues.append({"clip_id": seg.clip_id, "file": url, "reason": exc.reason})


# video id -> (where it comes from, for the report; its local file; None or why it is unusable)
Locate = Callable[[str], tuple[str, Path, str | None]]


def youtube_videos(cfg: Mapping[str, Any], downloads_dir: Path, ext: str = "mp4") -> Locate:
    """Each video fetched once with yt-dlp into ``downloads_dir/videos``."""
    cmd = ytdlp_command(cfg)
    fmt = str(cfg.get("format") or DEFAULT_FORMAT)

    def locate(video_id: str) -> tuple[str, Path, str | None]:
        file = Path(downloads_dir) / "videos" / f"{video_id}.{ext}"
        return WATCH_URL.format(id=video_id), file, fetch_video(cmd, video_id, file, fmt)

    return locate


def fetch_segments(
    name: str,
    segments: Iterable[Segment],
    cfg: Mapping[str, Any],
    out_dir: Path,
    downloads_dir: Path,
    audio_dir: str,
    channels: int | None,
    progress: bool = True,
    ext: str = "mp4",
    workers: int = 1,
) -> dict:
    """Fetch every listed video once (``workers`` at a time), convert its segments; dead videos
    go to the report."""
    by_video = _segments_by_video(segments, cfg)
    locate = youtube_videos(cfg, downloads_dir, ext) if by_video else None
    staging = Path(downloads_dir) / "converting"
    return convert_segments(
        name, by_video, locate, cfg, out_dir, audio_dir, channels, progress, workers=workers, staging=staging
    )


def _video_clips(
    segs: list[Segment],
    place: tuple[str, Path, str | None],
    tmp: Path,
    cfg: Mapping[str, Any],
    audio_dir: str,
    channels: int | None,
    resume: bool,
) -> tuple[list[str], list[dict], bool]:
    """One video's converted clip ids, its issue rows and whether it was unavailable (``place``:
    what ``locate`` said); with ``resume``, a video converted before a kill is read back from its
    note in ``tmp`` instead of being decoded again."""
    where, file, reason = place
    note = tmp / RESUME_DIR / f"{segs[0].video_id}.json"
    if resume and note.is_file():
        earlier = read_json(note)
        return earlier["done"], earlier["issues"], False
    dead = reason is not None
    if reason is None:
        try:
            audio, rate_in, frames = _decode_video(file, segs, cfg, channels)
        except MediaError as exc:
            reason = exc.reason
    if reason is not None:
        return [], [{"clip_id": s.clip_id, "file": where, "reason": reason} for s in segs], dead
    converted, failed = [], []
    _convert_video(segs, audio, rate_in, frames, tmp, cfg, audio_dir, where, converted, failed)
    if resume:
        write_json(note, {"done": converted, "issues": failed})
    return converted, failed, False


def _drop_unlisted(folder: Path, clips: set[str], subdirs: tuple[str, ...]) -> None:
    """Remove the files of ``folder``'s sub-folders whose clip (file stem) is not in ``clips``."""
    for sub in subdirs:
        for f in (folder / sub).glob("*") if (folder / sub).is_dir() else []:
            if f.stem not in clips:
                f.unlink()


def config_key(cfg: Mapping[str, Any]) -> str:
    """A digest of a dataset's configuration: a conversion resumes only under the same one."""
    return hashlib.sha256(json.dumps(dict(cfg), sort_keys=True, default=str).encode()).hexdigest()[:16]


def convert_segments(
    name: str,
    by_video: Mapping[str, list[Segment]],
    locate: Locate | None,
    cfg: Mapping[str, Any],
    out_dir: Path,
    audio_dir: str,
    channels: int | None,
    progress: bool = True,
    issues: list[dict] | None = None,
    workers: int = 1,
    staging: Path | None = None,
) -> dict:
    """Convert the segments of each video (found by ``locate``, ``workers`` videos at a time) into
    ``out_dir``, atomically; unusable videos and segments go to the report, after ``issues``
    (files never tried). With ``staging`` the conversion resumes after a kill: the videos a
    killed run converted there are not decoded again (:func:`avrepro.io.resumable_dir`)."""
    issues, done, n_dead = list(issues or []), [], 0
    building = resumable_dir(out_dir, staging, config_key(cfg)) if staging else atomic_dir(out_dir)
    with building as tmp, ThreadPoolExecutor(max(1, workers)) as fetchers:
        # videos are fetched ``workers`` at a time, ahead of the conversion, which takes one
        # video at a time (its decoded audio and frames: bounded memory)
        located = fetchers.map(locate, by_video) if by_video else iter(())
        for segs, place in tqdm(
            zip(by_video.values(), located, strict=True),
            total=len(by_video),
            desc=name,
            unit="video",
            file=sys.stderr,
            disable=not progress,
            leave=False,
        ):
            converted, failed, dead = _video_clips(segs, place, tmp, cfg, audio_dir, channels, bool(staging))
            done += converted
            issues += failed
            n_dead += dead
        if staging:  # a resumed build may hold clips of videos no longer listed
            _drop_unlisted(tmp, set(done), ("videos", audio_dir, "meta"))
        write_report(tmp, issues)
        write_json(tmp / "dataset.json", {"name": name, "clips": done})
    print(
        f"{name}: {len(done)} clips from {len(by_video) - n_dead} videos; {n_dead} of "
        f"{len(by_video)} videos unavailable, {len(issues)} clips not converted "
        f"(see {out_dir / 'download_report.csv'})"
    )
    return {
        "dataset": name,
        "clips": len(done),
        "videos": len(by_video),
        "dead_videos": n_dead,
        "not_converted": len(issues),
    }


def read_list(source: str, downloads_dir: Path, progress: bool = True) -> Path:
    """A list file given as a URL (downloaded into ``downloads_dir/lists``) or a local path."""
    from urllib.parse import urlparse

    from avrepro.data.download import download

    if urlparse(source).scheme in ("http", "https", "file"):
        name = Path(urlparse(source).path).name or "list.txt"
        return download(source, Path(downloads_dir) / "lists" / name, progress=progress)
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: list file not found")
    return path
