"""split: seeded, grouped, stable 70/15/15."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from avrepro.data.split import SPLITS, assign_split, read_split, split_manifest
from avrepro.data.verify import MANIFEST_COLUMNS, DataIssueError
from helpers.configs import smoke_config

CFG = smoke_config()["split"]  # hash split, 70/15/15


def write_manifest(path: Path, clips: list[tuple[str, str]]) -> Path:
    rows = [
        {
            "clip_id": c,
            "group": g,
            "video": f"videos/{c}.mp4",
            "audio": f"binaural_audios/{c}.wav",
            "meta": None,
            "duration_s": 3.0,
            "sample_rate": 16000,
            "channels": 2,
            "n_frames": 30,
            "fps": 10.0,
            "width": 64,
            "height": 32,
        }
        for c, g in clips
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(path, index=False)
    return path


def clips_for(n_groups: int, per_group: int = 3, start: int = 0) -> list[tuple[str, str]]:
    return [
        (f"{g:05d}_{k}", f"room{g:05d}") for g in range(start, start + n_groups) for k in range(per_group)
    ]


def where(out: dict[str, list[str]]) -> dict[str, str]:
    return {c: s for s in SPLITS for c in out[s]}


def test_assign_split_is_a_pure_function():
    fr = CFG["fractions"]
    assert assign_split("room1", 0, fr) == assign_split("room1", 0, fr)
    seen = {assign_split(f"g{i}", 0, fr) for i in range(50)}
    assert seen == set(SPLITS)
    # another seed reshuffles
    assert [assign_split(f"g{i}", 0, fr) for i in range(50)] != [
        assign_split(f"g{i}", 1, fr) for i in range(50)
    ]
    assert assign_split("x", 0, {"train": 1.0, "val": 0.0, "test": 0.0}) == "train"
    assert assign_split("x", 0, {"train": 0.0, "val": 0.0, "test": 1.0}) == "test"


def test_proportions_near_70_15_15(tmp_path):
    out = split_manifest(
        write_manifest(tmp_path / "m.csv", clips_for(1000, per_group=1)), CFG, tmp_path / "splits"
    )
    n = {s: len(out[s]) for s in SPLITS}
    assert sum(n.values()) == 1000
    assert abs(n["train"] / 1000 - 0.70) < 0.05
    assert abs(n["val"] / 1000 - 0.15) < 0.04
    assert abs(n["test"] / 1000 - 0.15) < 0.04


def test_groups_never_cross_splits(tmp_path):
    clips = clips_for(200, per_group=4)
    out = split_manifest(write_manifest(tmp_path / "m.csv", clips), CFG, tmp_path / "splits")
    side = where(out)
    by_group: dict[str, set[str]] = {}
    for c, g in clips:
        by_group.setdefault(g, set()).add(side[c])
    assert all(len(s) == 1 for s in by_group.values())


def test_adding_clips_moves_no_existing_clip(tmp_path):
    before = split_manifest(write_manifest(tmp_path / "a.csv", clips_for(100)), CFG, tmp_path / "a")
    # new groups, and new clips in existing groups
    more = clips_for(100) + clips_for(150, start=100) + [(f"{g:05d}_new", f"room{g:05d}") for g in range(100)]
    after = split_manifest(write_manifest(tmp_path / "b.csv", more), CFG, tmp_path / "b")
    wa, wb = where(before), where(after)
    assert all(wb[c] == s for c, s in wa.items())
    assert all(wb[f"{g:05d}_new"] == wa[f"{g:05d}_0"] for g in range(100))


def test_same_input_same_files(tmp_path):
    m = write_manifest(tmp_path / "m.csv", clips_for(60))
    out = split_manifest(m, CFG, tmp_path / "s1")
    split_manifest(m, CFG, tmp_path / "s2")
    for s in SPLITS:
        text = (tmp_path / "s1" / f"{s}.txt").read_bytes()
        assert text == (tmp_path / "s2" / f"{s}.txt").read_bytes()
        assert read_split(tmp_path / "s1" / f"{s}.txt") == out[s] == sorted(out[s])
    assert sorted(p.name for p in (tmp_path / "s1").iterdir()) == ["test.txt", "train.txt", "val.txt"]


def test_numeric_looking_ids_stay_strings(tmp_path):
    m = write_manifest(tmp_path / "m.csv", [(f"{i:06d}", f"{i:06d}") for i in range(1, 41)])
    out = split_manifest(m, CFG, tmp_path / "s")
    assert sorted(out["train"] + out["val"] + out["test"])[0] == "000001"


def test_fractions_must_sum_to_one(tmp_path):
    m = write_manifest(tmp_path / "m.csv", clips_for(20))
    with pytest.raises(ValueError, match="must sum to 1"):
        split_manifest(m, {**CFG, "fractions": {"train": 0.7, "val": 0.2, "test": 0.2}}, tmp_path / "s")
    with pytest.raises(ValueError, match="missing: test"):
        assign_split("g", 0, {"train": 0.7, "val": 0.3})
    assert not (tmp_path / "s").exists()


def test_empty_split_is_a_clear_error(tmp_path):
    m = write_manifest(tmp_path / "m.csv", clips_for(2))
    with pytest.raises(ValueError, match=r"would be empty: 2 group\(s\).*add more clips.*another split seed"):
        split_manifest(m, CFG, tmp_path / "s")
    assert not (tmp_path / "s").exists()
    # a zero fraction may leave its split empty
    out = split_manifest(m, {**CFG, "fractions": {"train": 1.0, "val": 0.0, "test": 0.0}}, tmp_path / "s")
    assert out["val"] == [] and (tmp_path / "s" / "val.txt").read_text() == ""


def test_read_split_errors(tmp_path):
    with pytest.raises(DataIssueError, match="split file not found"):
        read_split(tmp_path / "nope.txt")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataIssueError, match="unreadable split file"):
        read_split(tmp_path / "bad.txt")
