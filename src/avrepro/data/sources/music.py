"""MUSIC (Zhao et al., ECCV 2018, "The Sound of Pixels"): YouTube ids of solo and duet
performances, listed as ``{"videos": {"<instrument>": ["<youtube id>", ...]}}`` in
``MUSIC_solo_videos.json`` (536 solos, 11 instruments), ``MUSIC_duet_videos.json`` and
``MUSIC21_solo_videos.json``.

Each video is fetched once with yt-dlp and cut into ``clips_per_video`` clips of ``clip_seconds``
(mono audio at ``sample_rate``, 11,025 Hz in the paper; frames at ``fps``, 8 in the paper):
``videos/<id>-<start>.mp4``, ``audios/<id>-<start>.wav``, ``meta`` with the instrument as
``label`` and the YouTube id as ``group``. Dead or private videos are listed in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources._youtube import Segment, fetch_segments, read_list
from avrepro.io import read_json

NAME = "music"


def read_music_list(path: str | Path, classes: list[str] | None = None) -> list[tuple[str, str]]:
    """``(instrument, youtube id)`` pairs of a MUSIC json list (duplicates dropped, order kept)."""
    obj = read_json(path)
    videos = obj.get("videos") if isinstance(obj, dict) else None
    if not isinstance(videos, dict):
        raise ValueError(f'{path}: expected {{"videos": {{instrument: [youtube ids]}}}}')
    out, seen = [], set()
    for label, ids in videos.items():
        if classes and label not in classes:
            continue
        if not isinstance(ids, list):
            raise ValueError(f"{path}: videos.{label} is not a list of ids")
        for vid in ids:
            if str(vid) not in seen:
                seen.add(str(vid))
                out.append((label, str(vid)))
    return out


def segments(cfg: Mapping[str, Any], downloads_dir: Path, progress: bool = True) -> list[Segment]:
    clip_s, per_video = float(cfg["clip_seconds"]), int(cfg["clips_per_video"])
    out = []
    for source in cfg["lists"]:
        for label, vid in read_music_list(
            read_list(source, downloads_dir, progress), cfg.get("classes") or None
        ):
            out += [Segment(vid, k * clip_s, (k + 1) * clip_s, label) for k in range(per_video)]
    return out


def fetch(
    cfg: Mapping[str, Any], out_dir: Path, downloads_dir: Path, workers: int = 1, progress: bool = True
) -> dict:
    return fetch_segments(
        NAME,
        segments(cfg, downloads_dir, progress),
        cfg,
        Path(out_dir),
        Path(downloads_dir),
        audio_dir="audios",
        channels=1,
        progress=progress,
        workers=workers,
    )
