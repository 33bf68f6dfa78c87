"""Real-dataset sources: FAIR-Play served from loopback in its official layout, a user's local
folder, and both taken through verify -> split (official or hash) -> cache."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from avrepro.cli import main as cli_main
from avrepro.data.cache import FeatureCache, build_cache
from avrepro.data.download import DownloadError
from avrepro.data.sources import fetch_dataset
from avrepro.data.sources.fairplay import read_h5_split, reroot
from avrepro.data.sources.local_videos import segments
from avrepro.data.split import official_split, read_split
from avrepro.data.verify import DataIssueError, verify_dataset
from avrepro.media import MediaError, probe_mp4, read_wav
from helpers.configs import smoke_config
from helpers.fairplay_fixture import FOREIGN_ROOT, clip_ids, fairplay_cfg, make_fairplay
from helpers.fileserver import FileServer

VERIFY = smoke_config()["verify"]
FEATURES = {"sample_rate": 16000, "frame_width": 32, "frame_height": 16}


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("fairplay")
    make_fairplay(base, n_clips=8)
    return base


@pytest.fixture(scope="module")
def fetched(fixture_dir, tmp_path_factory):
    """FAIR-Play fetched from a loopback server and converted."""
    work = tmp_path_factory.mktemp("fetched")
    with FileServer(fixture_dir / "www") as server:
        summary = fetch_dataset(
            "fairplay",
            fairplay_cfg(server.url),
            work / "raw" / "fairplay",
            work / "downloads",
            progress=False,
        )
    return {"raw": work / "raw" / "fairplay", "work": work, "summary": summary}


def test_fairplay_converts_into_the_raw_layout(fetched):
    raw = fetched["raw"]
    listing = json.loads((raw / "dataset.json").read_text())
    assert listing["clips"] == clip_ids(8) and listing["splits"] == ["split1"]
    assert (
        listing["archives_sha256"]["splits.tar.gz"]
        == hashlib.sha256((fetched["work"] / "downloads/splits.tar.gz").read_bytes()).hexdigest()
    )
    audio, rate = read_wav(raw / "binaural_audios/000001.wav")
    assert rate == 16000 and audio.shape == (2, 24000)  # 48 kHz -> 16 kHz, 1.5 s
    probe = probe_mp4(raw / "videos/000001.mp4")
    assert probe["fps"] == 10 and (probe["width"], probe["height"]) == (96, 48)  # 30 -> 10 fps
    meta = json.loads((raw / "meta/000001.json").read_text())
    assert meta["clip_id"] == "000001" and meta["group"] == "000001"
    assert meta["fps"] == 10 and meta["sample_rate"] == 16000 and meta["duration_s"] == 1.5
    assert meta["source_sample_rate"] == 48000
    assert (raw / "splits/split1/train.h5").is_file()
    assert (raw / "download_report.csv").read_text().strip() == "clip_id,file,reason"
    # the archives stay for a rerun; the rerun downloads nothing
    assert sorted(p.name for p in (fetched["work"] / "downloads").glob("*.tar.gz")) == [
        "audios.tar.gz",
        "splits.tar.gz",
        "videos.tar.gz",
    ]


def test_fairplay_official_split_through_verify_and_cache(fetched):
    raw, work = fetched["raw"], fetched["work"]
    verify_dataset(raw, "fairplay", VERIFY, work / "manifest.csv", work / "issues.csv", progress=False)
    out = official_split(work / "manifest.csv", raw, "split1", work / "splits")
    assert out == {"train": clip_ids(4), "val": ["000005", "000006"], "test": ["000007", "000008"]}
    assert read_split(work / "splits/test.txt") == ["000007", "000008"]
    for split in ("train", "test"):
        build_cache(
            work / "manifest.csv",
            raw,
            work / "splits" / f"{split}.txt",
            work / "cache" / split,
            FEATURES,
            progress=False,
        )
    cache = FeatureCache(work / "cache/test", expect=FEATURES)
    assert cache.fps == 10 and cache.sample_rate == 16000
    assert cache.frames(0).shape[0] == 15


def test_official_split_errors(fetched, tmp_path, capsys):
    raw, work = fetched["raw"], fetched["work"]
    if not (work / "manifest.csv").exists():
        verify_dataset(raw, "fairplay", VERIFY, work / "manifest.csv", work / "issues.csv", progress=False)
    with pytest.raises(DataIssueError, match=r"official split 'split7' not found \(available: split1\)"):
        official_split(work / "manifest.csv", raw, "split7", tmp_path / "s")
    # a clip in two official splits
    bad = tmp_path / "raw"
    shutil.copytree(raw, bad)
    (bad / "splits/split1/val.h5").unlink()
    (bad / "splits/split1/val.txt").write_text("000001\n000006\n")
    out = official_split(work / "manifest.csv", bad, "split1", tmp_path / "s")
    assert out["val"] == ["000001", "000006"] and "000001" in out["train"]
    assert "1 clip(s) of val also in train (first: '000001')" in capsys.readouterr().out
    # a split file missing, a split with no usable clip
    (bad / "splits/split1/test.h5").unlink()
    with pytest.raises(DataIssueError, match="official split file missing"):
        official_split(work / "manifest.csv", bad, "split1", tmp_path / "s")
    (bad / "splits/split1/test.txt").write_text("999999\n")
    with pytest.raises(DataIssueError, match="split1/test has no usable clip"):
        official_split(work / "manifest.csv", bad, "split1", tmp_path / "s")


def test_h5_split_paths_are_rerooted(fixture_dir):
    paths = read_h5_split(fixture_dir / "src/splits/split1/test.h5")
    assert paths == [f"{FOREIGN_ROOT}/000007.wav", f"{FOREIGN_ROOT}/000008.wav"]
    assert reroot(paths) == ["000007", "000008"]
    assert reroot(["C:\\data\\binaural_audios\\000003.wav", "000004", "a.b"]) == ["000003", "000004", "a.b"]


def test_archive_checksum_is_enforced(fixture_dir, tmp_path):
    www = fixture_dir / "www"
    good = {a: hashlib.sha256((www / a).read_bytes()).hexdigest() for a in ("splits.tar.gz",)}
    with FileServer(www) as server:
        cfg = fairplay_cfg(server.url, archives=["splits.tar.gz"], sha256={"splits.tar.gz": "0" * 64})
        with pytest.raises(DownloadError, match="sha256 mismatch"):
            fetch_dataset("fairplay", cfg, tmp_path / "raw", tmp_path / "dl", progress=False)
        cfg["sha256"] = good
        with pytest.raises(FileNotFoundError, match="not in the FAIR-Play layout"):
            fetch_dataset("fairplay", cfg, tmp_path / "raw", tmp_path / "dl", progress=False)
    assert (tmp_path / "dl/splits.tar.gz").is_file() and not (tmp_path / "raw").exists()


def test_local_folder_with_a_bad_clip_groups_and_resizing(fixture_dir, tmp_path):
    src = tmp_path / "mine"
    shutil.copytree(fixture_dir / "src", src)
    (src / "videos/000003.mp4").write_bytes(b"not a video")
    (src / "binaural_audios/000009.wav").write_bytes((src / "binaural_audios/000001.wav").read_bytes())
    (src / "groups.csv").write_text("clip_id,group\n000001,sessionA\n000002,sessionA\n")
    # frames smaller than the schema allows (48 x 24): the conversion must resize
    cfg = {**smoke_config()["datasets"]["local"], "path": str(src), "frame_width": 48, "frame_height": 24}
    rc = cli_main(
        [
            "download",
            "--dataset",
            "local",
            "--cfg",
            json.dumps(cfg),
            "--out",
            str(tmp_path / "raw"),
            "--no-progress",
            "--workers",
            "2",
        ]
    )
    assert rc == 0
    raw = tmp_path / "raw"
    listing = json.loads((raw / "dataset.json").read_text())
    assert "000003" not in listing["clips"] and len(listing["clips"]) == 7
    report = (raw / "download_report.csv").read_text()
    assert f"000003,{src}/videos/000003.mp4," in report  # the user's file, by its path
    assert f"000009,{src}/binaural_audios/000009.wav,no video for this audio" in report
    assert json.loads((raw / "meta/000002.json").read_text())["group"] == "sessionA"
    probe = probe_mp4(raw / "videos/000001.mp4")
    assert (probe["width"], probe["height"]) == (48, 24)
    manifest = verify_dataset(raw, "local", VERIFY, tmp_path / "m.csv", tmp_path / "i.csv", progress=False)
    assert len(manifest) == 7 and set(manifest["group"]) >= {"sessionA"}
    issues = (tmp_path / "i.csv").read_text()  # what the download could not use reaches the report
    assert f"local,000003,{src}/videos/000003.mp4,download: " in issues and "local,000009," in issues


def test_local_without_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="datasets.local.path is not set"):
        fetch_dataset("local", smoke_config()["datasets"]["local"], tmp_path / "raw")
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        fetch_dataset("nope", {}, tmp_path / "raw")


def test_audio_is_resampled_not_truncated(fetched, fixture_dir):
    from scipy.signal import resample_poly

    src, _ = read_wav(fixture_dir / "src/binaural_audios/000002.wav")
    out, _ = read_wav(fetched["raw"] / "binaural_audios/000002.wav")
    ref = resample_poly(src, 1, 3, axis=-1)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-3  # 16-bit PCM of the polyphase resampling


def test_fairplay_from_a_file_url_mirror(fixture_dir, tmp_path):
    cfg = fairplay_cfg(
        (fixture_dir / "www").as_uri() + "/",
        archives=["splits.tar.gz", "audios.tar.gz", "videos.tar.gz"],
        max_clips=2,
    )
    summary = fetch_dataset("fairplay", cfg, tmp_path / "raw", tmp_path / "dl", progress=False)
    assert summary["clips"] == 2
    assert json.loads((tmp_path / "raw/dataset.json").read_text())["clips"] == ["000001", "000002"]


def test_fairplay_rerun_downloads_and_unpacks_nothing(fetched, fixture_dir, tmp_path):
    work = fetched["work"]
    probe = work / "downloads/extracted/videos/000001.mp4"
    before = probe.stat().st_mtime_ns
    with FileServer(fixture_dir / "www") as server:
        fetch_dataset(
            "fairplay", fairplay_cfg(server.url, fps=5), tmp_path / "raw", work / "downloads", progress=False
        )
    assert server.requests == [] and probe.stat().st_mtime_ns == before
    assert probe_mp4(tmp_path / "raw/videos/000001.mp4")["fps"] == 5


@pytest.mark.parametrize(
    "duration, cfg, starts",
    [
        (25.0, {"clip_seconds": 10}, [0, 10]),  # the last 5 s are not a whole clip
        (30.0, {"clip_seconds": 10}, [0, 10, 20]),
        (25.0, {"clip_seconds": 10, "clips_per_video": 1}, [0]),
        (7.0, {"clip_seconds": 10, "min_seconds": 3}, [None]),  # shorter than a clip: the whole video
        (25.0, {"clip_seconds": 0}, [None]),  # whole videos
        (float("nan"), {"clip_seconds": 10, "min_seconds": 3}, [None]),  # no duration in the container
    ],
)
def test_own_videos_are_cut_into_consecutive_clips(duration, cfg, starts, tmp_path):
    got = segments("take1", duration, cfg, tmp_path / "take1.mov")
    assert [s.start for s in got] == starts
    assert [s.clip_id for s in got] == [f"take1-{x}" if x is not None else "take1" for x in starts]
    assert all(s.extra == {"source_file": str(tmp_path / "take1.mov")} for s in got)


def test_an_own_video_shorter_than_min_seconds_is_named(tmp_path):
    why = r"take1.mov: 2.0 s long, shorter than datasets.local_videos.min_seconds \(3 s\)"
    with pytest.raises(MediaError, match=why):
        segments("take1", 2.0, {"clip_seconds": 10, "min_seconds": 3}, tmp_path / "take1.mov")
