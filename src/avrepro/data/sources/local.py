"""A user's own folder in the FAIR-Play layout: ``videos/<id>.mp4``, ``binaural_audios/<id>.wav``
(any rate, stereo), optionally ``splits/<name>/{train,val,test}.h5|.txt`` (h5: dataset ``audio``
with wav paths from any machine; txt: clip ids or paths, one a line) and ``groups.csv``
(``clip_id,group``: clips of one recording session kept on one side of the hash split).

Nothing is downloaded: the clips are converted into the raw layout like FAIR-Play's.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources.fairplay import convert_folder
from avrepro.io import read_json, write_json

NAME = "local"


def fetch(
    cfg: Mapping[str, Any],
    out_dir: Path,
    downloads_dir: Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Convert the folder at params ``datasets.local.path`` into ``out_dir``."""
    if not cfg.get("path"):
        raise ValueError(
            "datasets.local.path is not set: point it at a folder with videos/ and "
            "binaural_audios/ (see README, Real datasets)"
        )
    src = Path(cfg["path"]).expanduser()
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: datasets.local.path is not a folder")
    summary = convert_folder(
        src, Path(out_dir), cfg, NAME, workers=workers, progress=progress, extra={"source": str(src)}
    )
    groups_csv = src / "groups.csv"
    if groups_csv.is_file():
        with open(groups_csv, newline="") as fh:
            groups = {r["clip_id"]: r["group"] for r in csv.DictReader(fh) if r.get("group")}
        for meta_file in sorted((Path(out_dir) / "meta").glob("*.json")):
            meta = read_json(meta_file)
            if meta["clip_id"] in groups:
                meta["group"] = groups[meta["clip_id"]]
                write_json(meta_file, meta)
    return summary
