"""A user's own folder in the FAIR-Play layout: ``videos/<id>.mp4``, ``binaural_audios/<id>.wav``
(any rate, stereo; extensions in any case), optionally ``splits/<name>/{train,val,test}.h5|.txt``
(h5: dataset ``audio`` with wav paths from any machine; txt: clip ids or paths, one a line) and
``groups.csv`` (``clip_id,group``: clips of one recording session kept on one side of the hash split).

Nothing is downloaded: the clips are converted into the raw layout like FAIR-Play's. A clip name
(the files' stem) follows :data:`avrepro.data.verify.CLIP_NAME_RULE`; a file that breaks it, or that
is not ``.mp4``/``.wav``, is listed in ``download_report.csv``. Each clip's meta records the user's
files (``source_files``), so ``verify`` names them, not the converted copies, in the issues.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources._clips import user_folder
from avrepro.data.sources.fairplay import AUDIO_DIRS, convert_folder, find_dir
from avrepro.data.verify import AUDIO_DIR, AUDIO_EXT, META_DIR, VIDEO_DIR, VIDEO_EXT
from avrepro.io import read_json, record_contents, write_json

NAME = "local"


def fetch(
    cfg: Mapping[str, Any],
    out_dir: Path,
    downloads_dir: Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Convert the folder at params ``datasets.local.path`` into ``out_dir``."""
    src = user_folder(cfg, NAME, "a folder with videos/ and binaural_audios/ (see README, Real datasets)")
    summary = convert_folder(
        src, Path(out_dir), cfg, NAME, workers=workers, progress=progress, extra={"source": str(src)}
    )
    _annotate_meta(src, Path(out_dir))
    record_contents(out_dir)  # the annotated meta files
    return summary


def folder_manifest(path: str | Path) -> str:
    """A digest of every file under the user's folder (relative path, size, modification time):
    it changes when a clip is added, replaced, edited or removed. The download rule's params
    carry it, so Snakemake reruns the conversion exactly then (DVC hashes the folder itself)."""
    root = Path(path).expanduser()
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            stat = (Path(folder) / name).stat()
            rel = (Path(folder) / name).relative_to(root).as_posix()
            digest.update(f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _read_groups(src: Path) -> dict[str, str]:
    """``groups.csv`` of the user's folder as clip id -> group (``{}`` without one)."""
    groups_csv = src / "groups.csv"
    if not groups_csv.is_file():
        return {}
    with open(groups_csv, newline="") as fh:
        return {r["clip_id"]: r["group"] for r in csv.DictReader(fh) if r.get("group")}


def _annotate_meta(src: Path, out_dir: Path) -> None:
    """Each converted clip's meta: its group from ``groups.csv`` and the user's files it came from
    (``source_files``: path in the raw layout -> path in the user's folder)."""
    groups = _read_groups(src)
    videos, audios = find_dir(src, (VIDEO_DIR,)), find_dir(src, AUDIO_DIRS)
    for meta_file in sorted((out_dir / META_DIR).glob("*.json")):
        meta = read_json(meta_file)
        clip_id = meta["clip_id"]
        if clip_id in groups:
            meta["group"] = groups[clip_id]
        meta["source_files"] = {
            f"{VIDEO_DIR}/{clip_id}{VIDEO_EXT}": str(videos / meta["source_video"]),
            f"{AUDIO_DIR}/{clip_id}{AUDIO_EXT}": str(audios / meta["source_audio"]),
        }
        write_json(meta_file, meta)
