"""Kinetics-Sounds / AudioSet-style segment lists (for the ``sync`` task): CSV rows of a YouTube id,
a start and an end time in seconds, and a label.

Two spellings are read: a header with ``youtube_id,time_start,time_end`` (and ``label``,
``split``), as in the Kinetics CSVs; or AudioSet's ``YTID, start_seconds, end_seconds,
"labels"`` rows after ``#`` comment lines. Segments are fetched with yt-dlp and cut locally;
mono audio at ``sample_rate``, frames at ``fps``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources._youtube import Segment, fetch_segments, read_list

NAME = "kinetics"


def read_segment_csv(
    path: str | Path, labels: list[str] | None = None, split: str | None = None
) -> list[Segment]:
    """Segments of a Kinetics- or AudioSet-style CSV (optionally only some labels / one split)."""
    rows = [
        r
        for r in csv.reader(Path(path).read_text().splitlines(), skipinitialspace=True)
        if r and not r[0].lstrip().startswith("#")
    ]
    if not rows:
        return []
    out = []
    header = [h.strip().lower() for h in rows[0]]
    if "youtube_id" in header:
        col = {h: i for i, h in enumerate(header)}
        for r in rows[1:]:
            cells = {k: r[i].strip() for k, i in col.items() if i < len(r)}  # a short row lacks some
            if split and cells.get("split") not in (None, split):
                continue
            out.append(
                Segment(
                    cells.get("youtube_id"),
                    float(cells.get("time_start")),
                    float(cells.get("time_end")),
                    cells.get("label"),
                )
            )
    else:
        for r in rows:
            try:
                out.append(
                    Segment(r[0].strip(), float(r[1]), float(r[2]), r[3].strip() if len(r) > 3 else None)
                )
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}: cannot read the row {','.join(r)!r} (expected youtube id, start, end[, label])"
                ) from None
    if labels:
        out = [s for s in out if s.label in labels]
    return out


def fetch(
    cfg: Mapping[str, Any], out_dir: Path, downloads_dir: Path, workers: int = 1, progress: bool = True
) -> dict:
    segs = []
    for source in cfg["lists"]:
        segs += read_segment_csv(
            read_list(source, downloads_dir, progress), cfg.get("labels") or None, cfg.get("split") or None
        )
    return fetch_segments(
        NAME,
        segs,
        cfg,
        Path(out_dir),
        Path(downloads_dir),
        audio_dir="audios",
        channels=1,
        progress=progress,
        workers=workers,
    )
