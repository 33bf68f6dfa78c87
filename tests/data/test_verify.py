"""verify: every kind of bad clip is listed and excluded (or fails in strict mode)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from avrepro.data.verify import ISSUE_COLUMNS, MANIFEST_COLUMNS, DataIssueError, read_manifest, verify_dataset
from avrepro.media import write_mp4, write_wav
from helpers import ROOT
from helpers.configs import smoke_config

SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "manifest.schema.yaml").read_text())
CFG = smoke_config()["verify"]
FPS, RATE, SIZE = 10, 16000, (32, 16)


def make_clip(
    raw: Path,
    clip_id: str,
    seconds: float = 1.0,
    audio_seconds: float | None = None,
    channels: int = 2,
    group: str | None = "g",
    meta: bool = True,
    audio: np.ndarray | None = None,
    seed: int = 0,
) -> None:
    """A tiny clip in the raw layout: videos/<id>.mp4, binaural_audios/<id>.wav, meta/<id>.json."""
    rng = np.random.default_rng(seed)
    n_frames = int(round(seconds * FPS))
    frames = rng.integers(0, 256, (n_frames, SIZE[1], SIZE[0], 3), dtype=np.uint8)
    write_mp4(raw / "videos" / f"{clip_id}.mp4", frames, FPS)
    if audio is None:
        n = int(round((seconds if audio_seconds is None else audio_seconds) * RATE))
        t = np.arange(n) / RATE
        audio = np.stack([0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)])
        audio = (audio + 0.01 * rng.standard_normal(audio.shape)).astype(np.float32)
    write_wav(raw / "binaural_audios" / f"{clip_id}.wav", audio, RATE)
    if meta:
        m = {"clip_id": clip_id, "fps": FPS, "sample_rate": RATE, "duration_s": seconds}
        if group is not None:
            m["group"] = group
        (raw / "meta").mkdir(parents=True, exist_ok=True)
        (raw / "meta" / f"{clip_id}.json").write_text(json.dumps(m))


def write_listing(raw: Path, ids: list[str]) -> None:
    (raw / "dataset.json").write_text(json.dumps({"name": "t", "clips": ids}))


def run(tmp_path: Path, cfg=CFG, dataset="t"):
    return verify_dataset(
        tmp_path / "raw",
        dataset,
        cfg,
        tmp_path / "manifests" / f"{dataset}.csv",
        tmp_path / "reports" / "data_issues.csv",
        progress=False,
    )


@pytest.fixture(scope="module")
def bad_raw(tmp_path_factory) -> Path:
    """Two good clips and one of each kind of bad clip."""
    raw = tmp_path_factory.mktemp("bad") / "raw"
    make_clip(raw, "good_a", group="room1")
    make_clip(raw, "good_b", group="room1", seed=1)
    make_clip(raw, "corrupt")
    (raw / "videos" / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    make_clip(raw, "truncated")
    data = (raw / "videos" / "truncated.mp4").read_bytes()
    (raw / "videos" / "truncated.mp4").write_bytes(data[: len(data) // 2])
    make_clip(raw, "mono", channels=1)
    make_clip(raw, "silent", audio=np.zeros((2, RATE), np.float32))
    make_clip(raw, "nan")
    nan_audio = np.full((RATE, 2), 0.1, np.float32)
    nan_audio[100] = np.nan
    sf.write(str(raw / "binaural_audios" / "nan.wav"), nan_audio, RATE, subtype="FLOAT")
    make_clip(raw, "short", seconds=0.3)
    make_clip(raw, "mismatch", seconds=1.0, audio_seconds=2.0)
    make_clip(raw, "no_audio")
    (raw / "binaural_audios" / "no_audio.wav").unlink()
    make_clip(raw, "bad_meta")
    (raw / "meta" / "bad_meta.json").write_text("{not json")
    make_clip(raw, "not_wav")
    (raw / "binaural_audios" / "not_wav.wav").write_bytes(b"RIFF0000garbage")
    write_listing(
        raw,
        [
            "good_a",
            "corrupt",
            "truncated",
            "mono",
            "silent",
            "nan",
            "short",
            "mismatch",
            "no_audio",
            "bad_meta",
            "not_wav",
            "good_b",
            "missing",
        ],
    )
    return raw


EXPECTED_REASONS = {
    "corrupt": ("videos/corrupt.mp4", "video"),
    "truncated": ("videos/truncated.mp4", "video"),
    "mono": ("binaural_audios/mono.wav", "mono"),
    "silent": ("binaural_audios/silent.wav", "silent"),
    "nan": ("binaural_audios/nan.wav", "NaN"),
    "short": ("binaural_audios/short.wav", "too short"),
    "mismatch": ("videos/mismatch.mp4", "differ"),
    "no_audio": ("binaural_audios/no_audio.wav", "not found"),
    "bad_meta": ("meta/bad_meta.json", "meta"),
    "not_wav": ("binaural_audios/not_wav.wav", "unreadable audio"),
    "missing": ("videos/missing.mp4", "not found"),
}


def test_bad_clips_are_listed_and_excluded(bad_raw, tmp_path, capsys):
    (tmp_path / "raw").symlink_to(bad_raw)
    manifest = run(tmp_path)
    assert list(manifest["clip_id"]) == ["good_a", "good_b"]
    assert list(manifest["group"]) == ["room1", "room1"]
    issues = pd.read_csv(tmp_path / "reports" / "data_issues.csv", dtype=str, keep_default_na=False)
    assert list(issues.columns) == ISSUE_COLUMNS
    assert set(issues["clip_id"]) == set(EXPECTED_REASONS)
    assert (issues["dataset"] == "t").all()
    for clip_id, (file, word) in EXPECTED_REASONS.items():
        rows = issues[issues["clip_id"] == clip_id]
        pairs = zip(rows["file"], rows["reason"], strict=True)
        found = any(f == file and word.lower() in r.lower() for f, r in pairs)
        assert found, (clip_id, rows.to_dict("records"))
    out = capsys.readouterr().out
    assert "verify t: 2 clips ok, 11 excluded -> " in out
    assert out.strip().endswith("data_issues.csv")


def test_checking_in_processes_gives_the_same_files(bad_raw, tmp_path, monkeypatch):
    """Two worker processes (the rule's threads) write the manifest and the issues one process
    writes, byte for byte, and a strict run still stops at the first bad clip in order."""
    monkeypatch.setattr("avrepro.data.verify.PARALLEL_MIN_CLIPS", 2)
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        verify_dataset(bad_raw, "t", CFG, out / "m.csv", out / "i.csv", progress=False, workers=workers)
        outputs.append(((out / "m.csv").read_text(), (out / "i.csv").read_text()))
    assert outputs[0] == outputs[1] and "good_a" in outputs[0][0]
    strict = smoke_config({"verify": {"strict": True}})["verify"]
    with pytest.raises(DataIssueError) as err:
        verify_dataset(
            bad_raw, "t", strict, tmp_path / "s.csv", tmp_path / "si.csv", progress=False, workers=2
        )
    assert err.value.clip_id == "corrupt"


def test_manifest_rows_match_schema(bad_raw, tmp_path):
    (tmp_path / "raw").symlink_to(bad_raw)
    run(tmp_path)
    df = read_manifest(tmp_path / "manifests" / "t.csv")
    assert list(df.columns) == MANIFEST_COLUMNS
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for row in df.to_dict("records"):
        row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        validator.validate(row)
    r = df.iloc[0]
    assert (r.video, r.audio, r.meta) == (
        "videos/good_a.mp4",
        "binaural_audios/good_a.wav",
        "meta/good_a.json",
    )
    assert (r.sample_rate, r.channels, r.n_frames, r.fps, r.width, r.height) == (RATE, 2, 10, 10.0, 32, 16)
    assert r.duration_s == pytest.approx(1.0)
    bad = dict(df.iloc[0].to_dict(), channels=0)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({k: (v.item() if hasattr(v, "item") else v) for k, v in bad.items()})


def test_strict_mode_names_file_and_reason(bad_raw, tmp_path):
    (tmp_path / "raw").symlink_to(bad_raw)
    with pytest.raises(DataIssueError) as err:
        run(tmp_path, cfg=smoke_config({"verify": {"strict": True}})["verify"])
    assert err.value.clip_id == "corrupt"
    assert err.value.file.endswith("videos/corrupt.mp4")
    assert "corrupt.mp4: " in str(err.value)
    assert not (tmp_path / "manifests" / "t.csv").exists()


def test_clean_dataset_without_meta_or_listing(tmp_path, capsys):
    raw = tmp_path / "raw"
    for i, cid in enumerate(["000002", "000001"]):
        make_clip(raw, cid, meta=False, seed=i)
    manifest = run(tmp_path, dataset="fairplay")
    assert list(manifest["clip_id"]) == ["000001", "000002"]  # sorted videos/*.mp4
    assert list(manifest["group"]) == ["000001", "000002"]  # group defaults to the clip id
    issues = pd.read_csv(tmp_path / "reports" / "data_issues.csv")
    assert list(issues.columns) == ISSUE_COLUMNS and len(issues) == 0
    df = read_manifest(tmp_path / "manifests" / "fairplay.csv")
    assert list(df["clip_id"]) == ["000001", "000002"]  # ids stay strings
    assert df["meta"].tolist() == [None, None]
    for row in df.to_dict("records"):
        jsonschema.validate({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}, SCHEMA)
    assert "verify fairplay: 2 clips ok, 0 excluded" in capsys.readouterr().out


def test_meta_without_group_and_channel_setting(tmp_path):
    raw = tmp_path / "raw"
    make_clip(raw, "a", group=None, channels=1)
    write_listing(raw, ["a"])
    manifest = run(tmp_path, cfg={**smoke_config({"verify": {"min_seconds": 0.5}})["verify"], "channels": 1})
    assert manifest["group"].tolist() == ["a"] and manifest["channels"].tolist() == [1]


def test_no_good_clip_is_a_clear_error(tmp_path):
    raw = tmp_path / "raw"
    make_clip(raw, "a", channels=1)
    write_listing(raw, ["a"])
    with pytest.raises(DataIssueError, match="no usable clip: 1 listed, all excluded"):
        run(tmp_path)
    issues = pd.read_csv(tmp_path / "reports" / "data_issues.csv")
    assert issues["clip_id"].tolist() == ["a"]


def test_issues_of_other_datasets_are_kept(tmp_path):
    raw = tmp_path / "raw"
    make_clip(raw, "a")
    make_clip(raw, "b", channels=1)
    write_listing(raw, ["a", "b"])
    issues_csv = tmp_path / "reports" / "data_issues.csv"
    issues_csv.parent.mkdir(parents=True)
    pd.DataFrame(
        [
            {"dataset": "other", "clip_id": "x", "file": "videos/x.mp4", "reason": "r"},
            {"dataset": "t", "clip_id": "old", "file": "videos/old.mp4", "reason": "r"},
        ]
    ).to_csv(issues_csv, index=False)
    run(tmp_path)
    issues = pd.read_csv(issues_csv)
    assert sorted(zip(issues["dataset"], issues["clip_id"], strict=True)) == [("other", "x"), ("t", "b")]


def test_broken_listing_and_missing_dir(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "dataset.json").write_text("[1, 2")
    with pytest.raises(DataIssueError, match="dataset.json: unreadable dataset listing"):
        run(tmp_path)
    (raw / "dataset.json").unlink()
    with pytest.raises(DataIssueError, match="neither dataset.json nor videos/"):
        run(tmp_path)
    with pytest.raises(DataIssueError, match="not found"):
        verify_dataset(tmp_path / "nope", "t", CFG, tmp_path / "m.csv", tmp_path / "i.csv", progress=False)
