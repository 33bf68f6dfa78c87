"""Seeded, grouped, stable train/val/test split (the ``split`` rule).

Each group (scene, room, source video) is assigned by a hash of ``"<seed>:<group>"``, so every
clip of a group lands in the same split, and adding clips never moves an existing one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
        raise ValueError(
            f"split fractions need exactly the keys {', '.join(SPLITS)} "
            f"(missing: {', '.join(missing) or 'none'}; "
            f"unknown: {', '.join(unknown) or 'none'})"
        )
    out = {}
    for s in SPLITS:
        f = fractions[s]
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1:
            raise ValueError(f"split fraction {s}={f!r} must be a number in [0, 1]")
        out[s] = float(f)
    total = sum(out.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(
            f"split fractions must sum to 1, got {' + '.join(f'{s}={out[s]:g}' for s in SPLITS)} = {total:g}"
        )
    return out


def group_position(group: str, seed: int) -> float:
    """Uniform position in [0, 1) of a group: sha256 of ``f"{seed}:{group}"``."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_split(group: str, seed: int, fractions: Mapping[str, float]) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for a group; depends only on the group, seed and fractions."""
    fr = check_fractions(fractions)
    u = group_position(str(group), seed)
    if u < fr["train"]:
        return "train"
    if u < fr["train"] + fr["val"]:
        return "val"
    return "test"


def split_manifest(
    manifest_csv: str | Path, cfg: Mapping[str, Any], out_dir: str | Path
) -> dict[str, list[str]]:
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
    for clip_id, group in zip(manifest["clip_id"], manifest["group"], strict=True):
        out[where[group]].append(clip_id)
    for s in SPLITS:
        out[s].sort()
        if not out[s] and fractions[s] > 0:
            counts = ", ".join(f"{k}={sum(v == k for v in where.values())}" for k in SPLITS)
            raise ValueError(
                f"{manifest_csv}: split '{s}' would be empty: {len(groups)} group(s) "
                f"of {len(manifest)} clip(s) fall as {counts} with seed {seed} and "
                f"fractions {fractions}; add more clips (groups) or choose another "
                f"split seed"
            )
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


def read_official_split(path: str | Path) -> list[str]:
    """Clip ids of one official split file: ``.h5`` (FAIR-Play: dataset ``audio`` of absolute
    wav paths from the authors' machines, re-rooted to the clip ids by file name) or ``.txt``
    (clip ids or paths, one a line)."""
    from avrepro.data.sources.fairplay import read_h5_split, reroot

    path = Path(path)
    if path.suffix == ".h5":
        try:
            return reroot(read_h5_split(path))
        except ValueError as exc:
            raise DataIssueError(path, str(exc).split(": ", 1)[-1]) from None
    return reroot(read_split(path))


def official_split(
    manifest_csv: str | Path, raw_dir: str | Path, name: str, out_dir: str | Path
) -> dict[str, list[str]]:
    """Use a dataset's official split ``name`` (``<raw_dir>/splits/<name>/{train,val,test}.h5|.txt``)
    instead of the hash split; write ``<out_dir>/{train,val,test}.txt`` like :func:`split_manifest`.

    Clips of the official lists that ``verify`` excluded (or that are not in the download) are
    dropped and counted on stdout; clips listed in two splits are kept as published, with a
    warning on stdout.

    Raises:
        DataIssueError: the split folder or one of its files is missing, or a split comes out empty.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    split_dir = raw_dir / "splits" / name
    if not split_dir.is_dir():
        have = (
            sorted(p.name for p in (raw_dir / "splits").iterdir() if p.is_dir())
            if (raw_dir / "splits").is_dir()
            else []
        )
        raise DataIssueError(
            split_dir,
            f"official split {name!r} not found (available: "
            f"{', '.join(have) or 'none: this dataset has no official splits'})",
        )
    manifest = read_manifest(manifest_csv)
    known = set(manifest["clip_id"])
    out: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for s in SPLITS:
        files = [split_dir / f"{s}{ext}" for ext in (".h5", ".txt")]
        file = next((f for f in files if f.is_file()), None)
        if file is None:
            raise DataIssueError(files[0], f"official split file missing (also tried {files[1].name})")
        ids = list(dict.fromkeys(read_official_split(file)))
        both = [c for c in ids if c in seen]
        if both:  # kept as published, but said: an overlap with train is a leak
            print(
                f"warning: official split {name}: {len(both)} clip(s) of {s} also in "
                f"{', '.join(sorted({seen[c] for c in both}))} (first: {both[0]!r})"
            )
        for c in ids:
            seen.setdefault(c, s)
        kept = sorted(c for c in ids if c in known)
        if len(kept) < len(ids):
            print(
                f"official split {name}/{s}: {len(ids) - len(kept)} of {len(ids)} listed clips "
                f"not in the manifest (excluded by verify or not downloaded)"
            )
        if not kept:
            raise DataIssueError(file, f"official split {name}/{s} has no usable clip")
        out[s] = kept
    for s in SPLITS:
        write_text(out_dir / f"{s}.txt", "".join(f"{c}\n" for c in out[s]))
    print(f"official split {name}: " + ", ".join(f"{s}={len(out[s])}" for s in SPLITS))
    return out
