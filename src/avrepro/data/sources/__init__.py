"""Real datasets: one module per source, each fetching and converting into the raw layout that
the synthetic dataset uses (``videos/<id>.mp4``, ``binaural_audios/<id>.wav`` or ``audios/<id>.wav``,
``meta/<id>.json``, ``dataset.json``), so ``verify -> split -> cache_features`` run unchanged.

Every source module has ``fetch(cfg, out_dir, downloads_dir, workers=1, progress=True) -> dict``
(a summary); :func:`fetch_dataset` picks it by name. ``out_dir`` is written atomically.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: dataset name -> module under avrepro.data.sources
SOURCES = {
    "fairplay": "fairplay",
    "local": "local",
    "local_videos": "local_videos",
    "local_solos": "local_solos",
    "local_360": "local_360",
    "music": "music",
    "yt360": "yt360",
    "kinetics": "kinetics",
}


def fetch_dataset(
    name: str,
    cfg: Mapping[str, Any],
    out_dir: str | Path,
    downloads_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Fetch and convert dataset ``name`` (params ``datasets.<name>``) into ``out_dir``."""
    if name not in SOURCES:
        raise ValueError(
            f"unknown dataset {name!r} (real datasets: {', '.join(SOURCES)}; "
            f"the synthetic one is made by `avrepro synthesize`)"
        )
    module = importlib.import_module(f"avrepro.data.sources.{SOURCES[name]}")
    out_dir = Path(out_dir)
    downloads_dir = Path(downloads_dir) if downloads_dir else out_dir.parent.parent / "downloads" / name
    return module.fetch(dict(cfg), out_dir, downloads_dir, workers=workers, progress=progress)
