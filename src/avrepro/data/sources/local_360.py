"""A user's own 360 recordings (``datasets.local_360``, the spatial task's own-media dataset):
``videos/<id>.mp4`` (equirectangular, or YouTube's equi-angular cubemap, converted) and
``foa/<id>.wav`` (first-order ambisonics, 4 channels in ambiX order: ACN W, Y, Z, X, SN3D), with
extensions in any case.

The clips are converted into the raw layout of the synthetic 360 view (``videos/``, ``foa/``,
``meta/``) at ``sample_rate`` and ``fps``, frames at most ``frame_width`` x ``frame_height``;
each clip is its own group of the split. A video without its sound (or the reverse), a sound file
that is not 4-channel, a video of another projection, an undecodable file and a name that breaks
the clip-name rule are listed in ``download_report.csv`` with the reason, naming the user's file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources._clips import convert_clips, pair_clips, user_folder, write_report
from avrepro.data.sources.yt360 import FOA_ORDER
from avrepro.io import atomic_dir, write_json

NAME = "local_360"
AUDIO_DIR = "foa"


def fetch(
    cfg: Mapping[str, Any],
    out_dir: Path,
    downloads_dir: Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Convert the folder at params ``datasets.local_360.path`` into ``out_dir``."""
    src = user_folder(cfg, NAME, "a folder with videos/ (360, equirectangular) and foa/ (ambiX wavs)")
    pairs, issues = pair_clips(src / "videos", src / AUDIO_DIR)
    if not pairs and not issues:
        raise FileNotFoundError(f"{src}: no clips: expected videos/<id>.mp4 and {AUDIO_DIR}/<id>.wav")
    if cfg.get("max_clips"):
        pairs = pairs[: int(cfg["max_clips"])]
    with atomic_dir(out_dir) as tmp:
        meta = {"source": NAME, "foa_order": FOA_ORDER}
        jobs = [(c, v, a, {"group": c, "source_files": _source_files(c, v, a), **meta}) for c, v, a in pairs]
        done, failed = convert_clips(
            jobs, tmp, cfg, AUDIO_DIR, channels=4, workers=workers, progress=progress, desc=f"convert {NAME}"
        )
        issues += [{**row, "file": row["file"] or _source_of(row["clip_id"], pairs)} for row in failed]
        write_report(tmp, issues)
        write_json(tmp / "dataset.json", {"name": NAME, "clips": done, "source": str(src)})
    report = Path(out_dir) / "download_report.csv"
    print(f"{NAME}: {len(done)} clips converted, {len(issues)} not (see {report})")
    return {"dataset": NAME, "clips": len(done), "not_converted": len(issues)}


def _source_files(clip_id: str, video: Path, audio: Path) -> dict[str, str]:
    """Path in the raw layout -> the user's file (``verify`` names the user's files)."""
    return {f"videos/{clip_id}.mp4": str(video), f"{AUDIO_DIR}/{clip_id}.wav": str(audio)}


def _source_of(clip_id: str, pairs: list[tuple[str, Path, Path]]) -> str:
    """The user's video of ``clip_id`` (for a report row that names no file)."""
    return next((str(v) for c, v, _ in pairs if c == clip_id), "")
