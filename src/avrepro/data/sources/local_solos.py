"""A user's own solo performances (``datasets.local_solos``, the separation task's own-media
dataset): a folder with one sub-folder per instrument (``violin/``, ``my cello/`` ...), each
holding videos of that instrument played alone, in any container :mod:`.local_videos` reads.

The sub-folder's name is each clip's ``label`` (the class mix-and-separate mixes across); deeper
folders keep their top sub-folder's label. Videos are converted as :mod:`.local_videos` does
(consecutive ``clip_seconds`` clips, mono sound at ``sample_rate``, one split group per video);
a video directly in the folder (no instrument) is listed in ``download_report.csv`` with the
reason, as are silent, short, undecodable and badly named ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources.local_videos import convert_folder
from avrepro.media import MediaError

NAME = "local_solos"


def fetch(
    cfg: Mapping[str, Any],
    out_dir: Path,
    downloads_dir: Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Convert the solo videos under params ``datasets.local_solos.path`` into ``out_dir``."""
    what = "a folder of solo videos, one sub-folder per instrument (see docs/datasets.md)"
    return convert_folder(NAME, cfg, out_dir, what, progress, label_of=instrument)


def instrument(path: Path, root: Path) -> str:
    """The instrument of the video ``path``: the name of its top sub-folder under ``root``;
    :class:`MediaError` for a video directly in ``root``."""
    parts = path.relative_to(root).parts
    if len(parts) < 2:
        raise MediaError(path, "not in an instrument sub-folder (its name is the clip's label)")
    return parts[0]
