"""Seeded, grouped, stable train/val/test split (the ``split`` rule).

Each group (scene, room, source video) is assigned by a hash of ``"<seed>:<group>"``, so every
clip of a group lands in the same split, and adding clips never moves an existing one.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any, Mapping

from avrepro.data.verify import DataIssueError, read_manifest
from avrepro.io import write_text

SPLITS = ("train", "val", "test")


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Validate ``{"train", "val", "test"}`` fractions (each in [0, 1], summing to 1)."""
    if not isinstance(fractions, Mapping):
        raise ValueError(f"split fractions must be a mapping of {', '.join(SPLITS)}, got {fractions!r}")
    unknown = sorted(set(fractions) - set(SPLITS))
    missing = [s for s in SPLITS if s not in fractions]
    if unknown or missing:
        raise ValueError(f"split fractions need exactly the keys {', '.join(SPLITS)} "
                         f"(missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'})")
    out = {}
    for s in SPLITS:
        f = fractions[s]
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1:
            raise ValueError(f"split fraction {s}={f!r} must be a number in [0, 1]")
        out[s] = float(f)
    total = sum(out.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"split fractions must sum to 1, got "
                         f"{' + '.join(f'{s}={out[s]:g}' for s in SPLITS)} = {total:g}")
    return out


def group_position(group: str, seed: int) -> float:
    """Uniform position in [0, 1) of a group: sha256 of ``f"{seed}:{group}"``."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def assign_split(group: str, seed: int, fractions: Mapping[str, float]) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for a group; depends only on the group, seed and fractions."""
    fr = check_fractions(fractions)
    u = group_position(str(group), seed)
    if u < fr["train"]:
        return "train"
    if u < fr["train"] + fr["val"]:
        return "val"
    return "test"


def split_manifest(manifest_csv: str | Path, cfg: Mapping[str, Any],
                   out_dir: str | Path) -> dict[str, list[str]]:
    """Split a manifest's clips by group; write ``<out_dir>/{train,val,test}.txt``.

    Args:
        manifest_csv: ``data/manifests/<dataset>.csv``.
        cfg: params ``split`` section: ``{"fractions": {"train", "val", "test"}, "seed"}``.
        out_dir: ``data/splits/<dataset>``; each file holds sorted clip ids, one a line.
    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` (sorted clip ids).
    Raises:
        ValueError: fractions that do not sum to 1, or a split with a non-zero fraction that
            comes out empty (too few groups for this seed).
    """
    fractions = check_fractions(cfg["fractions"])
    seed = int(cfg["seed"])
    manifest = read_manifest(manifest_csv)
    dup = manifest["clip_id"][manifest["clip_id"].duplicated()]
    if len(dup):
        raise DataIssueError(manifest_csv, f"clip id {dup.iloc[0]!r} appears more than once")
    groups = sorted(set(manifest["group"]))
    where = {g: assign_split(g, seed, fractions) for g in groups}
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for clip_id, group in zip(manifest["clip_id"], manifest["group"]):
        out[where[group]].append(clip_id)
    for s in SPLITS:
        out[s].sort()
        if not out[s] and fractions[s] > 0:
            counts = ", ".join(f"{k}={sum(v == k for v in where.values())}" for k in SPLITS)
            raise ValueError(f"{manifest_csv}: split '{s}' would be empty: {len(groups)} group(s) "
                             f"of {len(manifest)} clip(s) fall as {counts} with seed {seed} and "
                             f"fractions {fractions}; add more clips (groups) or choose another "
                             f"split seed")
    out_dir = Path(out_dir)
    for s in SPLITS:
        write_text(out_dir / f"{s}.txt", "".join(f"{c}\n" for c in out[s]))
    return out


def read_split(path: str | Path) -> list[str]:
    """Clip ids of a split file (one a line; blank lines ignored).

    Raises:
        DataIssueError: the file is missing or unreadable.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataIssueError(path, "split file not found (run the split step first)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataIssueError(path, f"unreadable split file ({exc})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]
