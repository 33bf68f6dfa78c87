"""Byte comparison of two generated trees that says *how* files differ (decoded frames and
samples, not just "bytes differ"), so a determinism failure points at its cause."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avrepro.io import CONTENTS


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative posix path (sorted), but the folder's record of file
    sizes (:data:`avrepro.io.CONTENTS`): it follows from the other files, which are compared."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != CONTENTS
    }


def describe(a: Path, b: Path) -> str:
    """What differs between two versions of one media file."""
    from avrepro.media import read_mp4_frames, read_wav

    try:
        if a.suffix == ".mp4":
            fa, fb = read_mp4_frames(a)[0], read_mp4_frames(b)[0]
        elif a.suffix == ".wav":
            fa, fb = read_wav(a)[0], read_wav(b)[0]
        else:
            return "bytes differ"
    except Exception as err:  # a description, never a second failure
        return f"bytes differ ({err})"
    if fa.shape != fb.shape:
        return f"shapes {fa.shape} vs {fb.shape}"
    d = np.abs(fa.astype(np.float64) - fb.astype(np.float64))
    where = np.argwhere(d > 0)[:3].tolist()
    return f"decoded: {int((d > 0).sum())} values differ, max {d.max():g}, first at {where}"


def differences(root_a: Path, root_b: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Files present in one tree only or with other bytes, each with :func:`describe`."""
    a, b = files(root_a), files(root_b)
    out = [f"{name}: only in one tree" for name in sorted(set(a) ^ set(b))]
    for name in sorted(set(a) & set(b)):
        if name not in skip and a[name] != b[name]:
            out.append(f"{name}: {describe(root_a / name, root_b / name)}")
    return out


def assert_same_trees(root_a: Path, root_b: Path) -> None:
    """``root_a`` and ``root_b`` hold the same files and bytes (differences described)."""
    diffs = differences(root_a, root_b)
    assert diffs == [], diffs
