"""A user's own 360 recordings (``datasets.local_360``, the spatial task's own-media dataset):
``videos/<id>.mp4`` (equirectangular, or YouTube's equi-angular cubemap, converted) and
``foa/<id>.wav`` (first-order ambisonics, 4 channels in ambiX order: ACN W, Y, Z, X, SN3D), with
extensions in any case.

The clips are converted into the raw layout of the synthetic 360 view (``videos/``, ``foa/``,
``meta/``) at ``sample_rate`` and ``fps``, frames at most ``frame_width`` x ``frame_height``;
each clip is its own group of the split. A video without its sound (or the reverse), a sound file
that is not 4-channel, a video of another projection, an undecodable file and a name that breaks
the clip-name rule are listed in ``download_report.csv`` with the reason, naming the user's file.
The folder is converted as one in the FAIR-Play layout is (:func:`.fairplay.convert_folder`, its
``splits/`` included), with ``foa/`` for ``binaural_audios/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources._clips import user_folder
from avrepro.data.sources.fairplay import convert_folder
from avrepro.data.sources.yt360 import FOA_ORDER

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
    return convert_folder(
        src,
        Path(out_dir),
        cfg,
        NAME,
        workers,
        progress,
        extra={"source": str(src)},
        audio_dirs=(AUDIO_DIR,),
        channels=4,
        clip_meta=_clip_meta,
        layout="a 360 folder's layout",
    )


def _clip_meta(clip_id: str, video: Path, audio: Path) -> dict:
    """The ambisonics' channel order, and the user's files (path in the raw layout -> the user's
    file: ``verify`` names the user's files)."""
    files = {f"videos/{clip_id}.mp4": str(video), f"{AUDIO_DIR}/{clip_id}.wav": str(audio)}
    return {"foa_order": FOA_ORDER, "source_files": files}
