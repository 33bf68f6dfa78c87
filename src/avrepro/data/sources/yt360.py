"""YouTube-360 (Morgado et al., "Learning Representations from Audio-Visual Spatial Alignment",
NeurIPS 2020): 360-degree videos with first-order ambisonics; 4,506 train / 1,000 test ids, and
10-s segments listed in ``segments.txt`` (``<id>-<start>`` per line, or ``<id> <start> [<end>]``).
Only listed segments of listed ids are used.

Clips keep the 4 ambisonic channels in the order YouTube serves spatial audio, ambiX (ACN
W, Y, Z, X; SN3D), the synthetic dataset's order: ``videos/<id>-<start>.mp4`` (equirectangular),
``foa/<id>-<start>.wav``. A video whose audio is not 4-channel is reported, not converted.
When the id lists include the released ``train`` and ``test`` lists, they are written as the
official split ``official`` (``splits/official/``; see :func:`write_official_split`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from avrepro.data.sources._youtube import Segment, fetch_segments, read_list
from avrepro.data.split import group_position
from avrepro.io import read_json, record_contents, write_text

NAME = "yt360"
FOA_ORDER = "ambiX (ACN W,Y,Z,X; SN3D)"
OFFICIAL = "official"  # splits/official/: the released train and test lists (split.official: official)
VAL_SHARE = 0.15  # of the training videos, the validation split


def read_ids(path: str | Path) -> list[str]:
    """YouTube ids, one a line (``#`` comments and blank lines ignored)."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line.split()[0])
    return list(dict.fromkeys(out))


def read_segments(path: str | Path, seconds: float = 10.0) -> list[Segment]:
    """Segments of ``segments.txt``: ``<id>-<start>`` (ids may contain ``-``: the last one splits)
    or ``<id> <start> [<end>]`` (spaces or commas)."""
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"[\s,]+", line)
        try:
            if len(parts) == 1:
                vid, start = parts[0].rsplit("-", 1)
                start, end = float(start), float(start) + seconds
            else:
                vid, start = parts[0], float(parts[1])
                end = float(parts[2]) if len(parts) > 2 else start + seconds
        except ValueError:
            raise ValueError(
                f"{path}: cannot read the segment {line!r} (expected <id>-<start> or <id> <start> [<end>])"
            ) from None
        out.append(Segment(vid, start, end, extra={"foa_order": FOA_ORDER}))
    return out


def fetch(
    cfg: Mapping[str, Any], out_dir: Path, downloads_dir: Path, workers: int = 1, progress: bool = True
) -> dict:
    lists = {}  # list name (file stem: train, test) -> its ids
    for source in cfg["id_lists"]:
        path = read_list(source, downloads_dir, progress)
        lists[Path(path).stem] = set(read_ids(path))
    ids = set().union(*lists.values()) if lists else set()
    segs = [
        s
        for s in read_segments(
            read_list(cfg["segments"], downloads_dir, progress), float(cfg.get("clip_seconds") or 10.0)
        )
        if not ids or s.video_id in ids
    ]
    summary = fetch_segments(
        NAME, segs, cfg, Path(out_dir), Path(downloads_dir), "foa", 4, progress, workers=workers
    )
    if {"train", "test"} <= set(lists):
        write_official_split(Path(out_dir), lists["train"], lists["test"])
    return summary


def write_official_split(out_dir: Path, train_ids: set[str], test_ids: set[str]) -> None:
    """``splits/official/{train,val,test}.txt`` of the converted clips from the released train and
    test id lists; the paper has no validation list, so a fixed 15 % of the training videos
    (by the hash of their id) is the validation split."""
    clips = read_json(out_dir / "dataset.json")["clips"]
    video = {c: c.rsplit("-", 1)[0] for c in clips}
    val_ids = {v for v in train_ids if group_position(v, 0) < VAL_SHARE}
    parts = {
        "train": [c for c in clips if video[c] in train_ids - val_ids],
        "val": [c for c in clips if video[c] in val_ids],
        "test": [c for c in clips if video[c] in test_ids],
    }
    for name, part in parts.items():
        write_text(out_dir / "splits" / OFFICIAL / f"{name}.txt", "".join(f"{c}\n" for c in part))
    record_contents(out_dir)
