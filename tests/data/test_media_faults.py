"""Bad media a user may bring: a stream with garbage in its middle (errors FFmpeg conceals),
extensions in upper case, files of other extensions, clip names the pipeline cannot use; and what
the issues CSV then names (the user's own file)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from avrepro.data.sources import fetch_dataset
from avrepro.data.verify import CLIP_NAME_RULE, DataIssueError, verify_dataset
from avrepro.media import MediaError, read_mp4_frames, write_mp4, write_wav
from helpers.configs import smoke_config

VERIFY = {k: v for k, v in smoke_config()["verify"].items() if k != "layouts"}
FPS, RATE, SIZE, N_FRAMES = 10, 16000, (128, 64), 15


def clean_frames() -> np.ndarray:
    """A moving block over a gradient (like the synthetic scenes), ``(15, 64, 128, 3)``."""
    width, height = SIZE
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.full((N_FRAMES, height, width, 3), 40, np.uint8)
    for t in range(N_FRAMES):
        frames[t, ..., 1] = (xx * 2 + yy + 3 * t) % 256
        frames[t, 16:48, 10 + 4 * t : 42 + 4 * t] = (220, 90, 60)
    return frames


def write_clip(folder: Path, name: str, video_ext: str = ".mp4", audio_ext: str = ".wav") -> None:
    """``videos/<name><video_ext>`` and ``binaural_audios/<name><audio_ext>``, 1.5 s, stereo."""
    write_mp4(folder / "videos" / f"{name}{video_ext}", clean_frames(), FPS)
    t = np.arange(int(1.5 * RATE)) / RATE
    audio = np.stack([0.3 * np.sin(2 * np.pi * 330 * t), 0.2 * np.sin(2 * np.pi * 440 * t)])
    write_wav(folder / "binaural_audios" / f"{name}{audio_ext}", audio.astype(np.float32), RATE)


def damage(video: Path, at: float = 0.25, n_bytes: int = 64) -> None:
    """Overwrite ``n_bytes`` of the H.264 data (the mp4's ``mdat`` box) at fraction ``at`` of it."""
    data = bytearray(video.read_bytes())
    box = data.find(b"mdat")
    start, end = box + 4, box - 4 + int.from_bytes(data[box - 4 : box], "big")
    pos = start + int(at * (end - start))
    data[pos : pos + n_bytes] = np.random.default_rng(7).bytes(n_bytes)
    video.write_bytes(bytes(data))


def read_issues(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_concealed_decode_errors_are_counted(tmp_path):
    video = tmp_path / "v.mp4"
    write_mp4(video, clean_frames(), FPS)
    assert read_mp4_frames(video, strict=True)[0].shape == (N_FRAMES, 64, 128, 3)  # clean: no error
    for at in (0.25, 0.6):
        damage(video, at=at)
        frames, _ = read_mp4_frames(video)  # FFmpeg conceals: every frame comes out
        assert frames.shape[0] == N_FRAMES
        with pytest.raises(
            MediaError, match=r"^.*: video: \d+ decode errors?, 1 of 15 frames corrupt"
        ) as err:
            read_mp4_frames(video, size=(32, 16), strict=True)
        assert "(corrupt stream; first: " in err.value.reason
        write_mp4(video, clean_frames(), FPS)


def test_verify_lists_a_corrupt_stream_and_matches_extensions_in_any_case(tmp_path):
    raw = tmp_path / "raw"  # no dataset.json: the clips are the videos found
    write_clip(raw, "good")
    write_clip(raw, "upper", video_ext=".MP4", audio_ext=".WAV")
    write_clip(raw, "mixed", video_ext=".Mp4", audio_ext=".Wav")
    write_clip(raw, "damaged")
    damage(raw / "videos/damaged.mp4")
    (raw / "videos/notes.txt").write_text("not a clip")
    (raw / "binaural_audios/take2.flac").write_bytes(b"fLaC")
    (raw / "videos/.DS_Store").write_bytes(b"hidden files are ignored")
    manifest = verify_dataset(raw, "mine", VERIFY, tmp_path / "m.csv", tmp_path / "i.csv", progress=False)
    assert sorted(manifest["clip_id"]) == ["good", "mixed", "upper"]
    assert set(manifest["video"]) == {"videos/good.mp4", "videos/upper.MP4", "videos/mixed.Mp4"}
    issues = {r["file"]: r for r in read_issues(tmp_path / "i.csv")}
    assert set(issues) == {"videos/damaged.mp4", "videos/notes.txt", "binaural_audios/take2.flac"}
    reason = issues["videos/damaged.mp4"]["reason"]
    assert reason.startswith("video: ") and "(corrupt stream; first: " in reason
    assert issues["videos/notes.txt"] == {
        "dataset": "mine",
        "clip_id": "",
        "file": "videos/notes.txt",
        "reason": "not used: only .mp4 files are read from videos/",
    }
    with pytest.raises(DataIssueError, match=r"damaged\.mp4: video: \d+ decode error"):
        verify_dataset(raw, "mine", {**VERIFY, "strict": True}, tmp_path / "m.csv", tmp_path / "i.csv")


def test_a_bad_clip_name_states_the_rule(tmp_path):
    raw = tmp_path / "raw"
    write_clip(raw, "fine")
    (raw / "dataset.json").write_text('{"name": "t", "clips": ["fine", "clip 01"]}')
    verify_dataset(raw, "t", VERIFY, tmp_path / "m.csv", tmp_path / "i.csv", progress=False)
    rows = read_issues(tmp_path / "i.csv")
    assert rows == [
        {
            "dataset": "t",
            "clip_id": "clip 01",
            "file": "dataset.json",
            "reason": f"invalid clip name 'clip 01' ({CLIP_NAME_RULE})",
        }
    ]
    assert CLIP_NAME_RULE == "allowed: letters A-Z a-z, digits 0-9, '_', '-', '.'; not starting with '.'"


def test_local_folder_issues_name_the_users_files(tmp_path):
    mine = tmp_path / "mydir"
    write_clip(mine, "ok_1")
    write_clip(mine, "Loud", video_ext=".MP4", audio_ext=".WAV")
    write_clip(mine, "clip 01")
    write_clip(mine, "broken")
    damage(mine / "videos/broken.mp4")  # same rate and size: copied as is, caught by verify
    write_clip(mine, "twice")
    shutil.copyfile(mine / "videos/twice.mp4", mine / "videos/twice.MP4")
    (mine / "videos/extra.avi").write_bytes(b"RIFF")
    cfg = {**smoke_config()["datasets"]["local"], "path": str(mine), "frame_width": 128, "frame_height": 64}
    fetch_dataset("local", cfg, tmp_path / "raw", progress=False)
    manifest = verify_dataset(
        tmp_path / "raw", "local", VERIFY, tmp_path / "m.csv", tmp_path / "i.csv", progress=False
    )
    assert sorted(manifest["clip_id"]) == ["Loud", "ok_1", "twice"]
    issues = pd.read_csv(tmp_path / "i.csv", dtype=str, keep_default_na=False)
    by_file = dict(zip(issues["file"], issues["reason"], strict=True))
    rule = f"invalid clip name 'clip 01' ({CLIP_NAME_RULE})"
    assert by_file == {
        f"{mine}/videos/broken.mp4": by_file[f"{mine}/videos/broken.mp4"],
        f"{mine}/videos/clip 01.mp4": f"download: {rule}",
        f"{mine}/binaural_audios/clip 01.wav": f"download: {rule}",
        f"{mine}/videos/twice.mp4": "download: not used: twice.MP4 has the same clip name",
        f"{mine}/videos/extra.avi": "download: not used: only .mp4 files are read from videos/",
    }
    assert by_file[f"{mine}/videos/broken.mp4"].startswith("video: ")
    assert "corrupt stream" in by_file[f"{mine}/videos/broken.mp4"]


def test_clean_synthetic_data_has_no_decode_error(tiny_data):
    """No false alarm: every view of the smoke synthetic dataset decodes without an FFmpeg error."""
    for dataset in tiny_data["views"]:
        issues = pd.read_csv(tiny_data["base"] / "issues" / f"{dataset}.csv", dtype=str)
        assert not issues["reason"].str.contains("decode error|not used|corrupt").any(), issues
    videos = sorted(Path(tiny_data["views"]["synthetic"]["raw"]).rglob("*.mp4"))
    assert len(videos) > 40
    for video in videos:
        read_mp4_frames(video, size=(32, 16), strict=True)
