"""A user's own videos with sound (``datasets.local_videos``, the sync task's own-media dataset):
every video file under the folder (``.mp4``, ``.mkv``, ``.mov``, ``.webm``, ``.avi``, in any case;
sub-folders included), whatever its size, frame rate and length.

Each video is cut into consecutive clips of ``clip_seconds`` (at most ``clips_per_video``, 0: all;
the rest after the last whole clip is not used; a video shorter than a clip, or any video when
``clip_seconds`` is 0, is one clip), with its sound mixed to mono at ``sample_rate`` and frames at
``fps``, at most ``frame_width`` x ``frame_height`` (the raw layout of the YouTube lists:
``videos/``, ``audios/``, ``meta/``). The clips of one video are one group, so a video is on one
side of the split. A video shorter than ``min_seconds``, without sound, that cannot be decoded, or
whose name breaks :data:`avrepro.data.verify.CLIP_NAME_RULE` is listed in ``download_report.csv``
with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources._clips import by_clip_name, user_folder
from avrepro.data.sources._youtube import Segment, convert_segments
from avrepro.media import MediaError, media_duration

NAME = "local_videos"
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi")
AUDIO_DIR = "audios"


def fetch(
    cfg: Mapping[str, Any],
    out_dir: Path,
    downloads_dir: Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Convert the videos under params ``datasets.local_videos.path`` into ``out_dir``."""
    return convert_folder(
        NAME, cfg, out_dir, "a folder of videos with sound (see docs/datasets.md)", progress
    )


# a video's label, from its path and the folder's root (None: unlabelled); MediaError: unusable
Labeller = Callable[[Path, Path], str | None]


def convert_folder(
    name: str,
    cfg: Mapping[str, Any],
    out_dir: Path,
    what: str,
    progress: bool,
    label_of: Labeller | None = None,
) -> dict:
    """Convert every video under params ``datasets.<name>.path`` (``what`` it should hold, for the
    error when it is not set) into ``out_dir``, each clip labelled by ``label_of``."""
    src = user_folder(cfg, name, what)
    videos = (p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    files, issues = by_clip_name(sorted(videos))
    by_video: dict[str, list[Segment]] = {}
    for video_id, path in files.items():
        try:
            label = label_of(path, src) if label_of else None
            by_video[video_id] = segments(video_id, media_duration(path), cfg, path, name, label)
        except MediaError as exc:
            issues.append({"clip_id": video_id, "file": str(path), "reason": exc.reason})
    if cfg.get("max_clips"):
        by_video = _first_clips(by_video, int(cfg["max_clips"]))

    def locate(video_id: str) -> tuple[str, Path, None]:  # the user's file, already there
        return str(files[video_id]), files[video_id], None

    return convert_segments(name, by_video, locate, cfg, out_dir, AUDIO_DIR, 1, progress, issues)


def segments(
    video_id: str,
    duration: float,
    cfg: Mapping[str, Any],
    path: Path,
    name: str = NAME,
    label: str | None = None,
) -> list[Segment]:
    """The consecutive whole clips of ``clip_seconds`` of the video ``path`` of ``duration``
    seconds (what remains after the last one is not used); the whole video as one clip when it is
    shorter than a clip, ``clip_seconds`` is 0 or the container states no duration. Each clip has
    ``label``. :class:`MediaError` when it is shorter than ``min_seconds`` (of ``datasets.<name>``)."""
    length, shortest = float(cfg.get("clip_seconds") or 0), float(cfg.get("min_seconds") or 0)
    source = {"source_file": str(path)}
    if duration < shortest:  # (False for NaN)
        why = f"{duration:.1f} s long, shorter than datasets.{name}.min_seconds ({shortest:g} s)"
        raise MediaError(path, why)
    count = int(math.floor(duration / length + 1e-6)) if length > 0 and math.isfinite(duration) else 0
    if count == 0:
        return [Segment(video_id, label=label, extra=source)]
    if cfg.get("clips_per_video"):
        count = min(count, int(cfg["clips_per_video"]))
    return [Segment(video_id, k * length, (k + 1) * length, label, source) for k in range(count)]


def _first_clips(by_video: dict[str, list[Segment]], n: int) -> dict[str, list[Segment]]:
    """The first ``n`` clips, in video order (``max_clips``: a quick look)."""
    out: dict[str, list[Segment]] = {}
    for vid, segs in by_video.items():
        if n <= 0:
            break
        out[vid], n = segs[:n], n - len(segs[:n])
    return out
