"""A folder output records its files, so that one deleted or changed later is seen (issue 14)."""

from __future__ import annotations

import json

from avrepro.io import CONTENTS, atomic_dir, missing_contents, record_contents


def _folder(tmp_path):
    out = tmp_path / "cache"
    with atomic_dir(out) as tmp:
        (tmp / "shard_0.npy").write_bytes(b"0" * 10)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "index.json").write_text("{}")
    return out


def test_atomic_dir_records_every_file_with_its_size(tmp_path):
    out = _folder(tmp_path)
    assert json.loads((out / CONTENTS).read_text()) == {"shard_0.npy": 10, "sub/index.json": 2}
    assert missing_contents(out) == []


def test_a_deleted_or_resized_file_is_named(tmp_path):
    out = _folder(tmp_path)
    (out / "sub" / "index.json").unlink()
    (out / "shard_0.npy").write_bytes(b"0" * 9)
    assert missing_contents(out) == ["shard_0.npy (size changed)", "sub/index.json (missing)"]


def test_an_added_file_or_snakemake_marker_is_not_damage(tmp_path):
    out = _folder(tmp_path)
    (out / "notes.txt").write_text("mine")
    (out / ".snakemake_timestamp").touch()
    assert missing_contents(out) == []
    record_contents(out)  # a later record lists the added file, never the markers
    assert set(json.loads((out / CONTENTS).read_text())) == {"notes.txt", "shard_0.npy", "sub/index.json"}


def test_nothing_to_compare_is_not_damage(tmp_path):
    assert missing_contents(tmp_path / "absent") == []
    (tmp_path / "old").mkdir()  # a folder written before records existed
    assert missing_contents(tmp_path / "old") == []
    (tmp_path / "file.json").write_text("{}")
    assert missing_contents(tmp_path / "file.json") == []
