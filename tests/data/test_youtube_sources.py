"""YouTube-listed sources (MUSIC, Kinetics-style, YouTube-360): list readers served from loopback,
a stand-in yt-dlp, dead and private videos recorded in the report, a clear message without yt-dlp."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from avrepro.data.sources import fetch_dataset
from avrepro.data.sources._youtube import MissingYtDlpError, classify_failure, ytdlp_command
from avrepro.data.sources.kinetics import read_segment_csv
from avrepro.data.sources.music import read_music_list
from avrepro.data.sources.yt360 import read_ids, read_segments
from avrepro.data.verify import verify_dataset
from avrepro.media import probe_mp4, read_wav, write_mp4
from helpers.configs import smoke_config
from helpers.fileserver import FileServer
from helpers.view360_fixture import write_foa_video
from helpers.youtube import fake_ytdlp


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two 'YouTube videos' (13 s, 30 fps, stereo AAC 22.05 kHz)."""
    base = tmp_path_factory.mktemp("yt")
    rng = np.random.default_rng(0)
    out = {}
    for name, seconds in (("long", 13.0), ("short", 4.0)):
        frames = np.full((int(seconds * 30), 48, 96, 3), 90, np.uint8)
        audio = (0.2 * rng.standard_normal((2, int(seconds * 22050)))).astype(np.float32)
        write_mp4(base / f"{name}.mp4", frames, 30, audio=audio, audio_rate=22050)
        out[name] = base / f"{name}.mp4"
    return out


def source_cfg(dataset: str, **overrides) -> dict:
    """The smoke profile's ``datasets.<dataset>`` section with ``overrides``, validated."""
    return smoke_config({"datasets": {dataset: overrides}})["datasets"][dataset]


def report_rows(raw) -> list[dict]:
    with open(raw / "download_report.csv") as fh:
        return list(csv.DictReader(fh))


def test_music_list_fetch_with_dead_and_private_videos(tmp_path, videos):
    www = tmp_path / "www"
    www.mkdir()
    (www / "MUSIC_solo_videos.json").write_text(
        json.dumps(
            {"videos": {"violin": ["vidLong0001", "vidDead0001"], "flute": ["vidPriv0001", "vidShort001"]}}
        )
    )
    plan = {"vidLong0001": videos["long"], "vidShort001": videos["short"], "vidPriv0001": "private"}
    with FileServer(www) as server:
        cfg = source_cfg(
            "music",
            lists=[server.url + "MUSIC_solo_videos.json"],
            clips_per_video=3,
            frame_width=224,
            frame_height=224,
            ytdlp=fake_ytdlp(tmp_path, plan),
        )
        summary = fetch_dataset("music", cfg, tmp_path / "raw", tmp_path / "dl", progress=False)
    raw = tmp_path / "raw"
    assert summary["dead_videos"] == 2 and summary["videos"] == 4
    clips = json.loads((raw / "dataset.json").read_text())["clips"]
    # 13 s -> two full 6-s clips (the third would be 1 s: skipped); 4 s -> none
    assert clips == ["vidLong0001-0", "vidLong0001-6"]
    audio, rate = read_wav(raw / "audios/vidLong0001-6.wav")
    assert rate == 11025 and audio.shape == (1, 6 * 11025)
    assert probe_mp4(raw / "videos/vidLong0001-0.mp4")["fps"] == 8
    meta = json.loads((raw / "meta/vidLong0001-6.json").read_text())
    assert meta["label"] == "violin" and meta["group"] == "vidLong0001" and meta["start_s"] == 6.0
    reasons = {r["clip_id"].rsplit("-", 1)[0]: r["reason"] for r in report_rows(raw)}
    assert reasons == {"vidDead0001": "video unavailable", "vidPriv0001": "private video"}
    # the fetched mono clips verify (MUSIC layout: audios/, 1 channel)
    verify = {**smoke_config()["verify"], "channels": 1, "audio_dir": "audios"}
    manifest = verify_dataset(raw, "music", verify, tmp_path / "m.csv", tmp_path / "i.csv", progress=False)
    assert sorted(manifest["clip_id"]) == clips and set(manifest["group"]) == {"vidLong0001"}
    from avrepro.data.cache import FeatureCache, build_cache

    (tmp_path / "all.txt").write_text("\n".join(clips) + "\n")
    feats = {"sample_rate": 11025, "frame_width": 32, "frame_height": 32}
    build_cache(tmp_path / "m.csv", raw, tmp_path / "all.txt", tmp_path / "cache", feats, progress=False)
    cache = FeatureCache(tmp_path / "cache", expect=feats)
    assert cache.channels == 1 and cache.frames(1).shape == (48, 32, 32, 3)  # 6 s at 8 fps


def test_kinetics_csv_and_yt360_channel_check(tmp_path, videos):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "ks.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "playing violin,vidLong0001,2,7,train\n"
        "playing flute,vidGone0001,0,10,train\n"
        "playing violin,vidLong0001,3,8,val\n"
    )
    plan = {"vidLong0001": videos["long"]}
    cfg = source_cfg(
        "kinetics",
        lists=[str(lists / "ks.csv")],
        sample_rate=16000,
        fps=10,
        frame_width=224,
        frame_height=224,
        ytdlp=fake_ytdlp(tmp_path, plan),
    )
    fetch_dataset("kinetics", cfg, tmp_path / "ks", tmp_path / "dl", progress=False)
    assert json.loads((tmp_path / "ks/dataset.json").read_text())["clips"] == ["vidLong0001-2"]
    assert read_wav(tmp_path / "ks/audios/vidLong0001-2.wav")[0].shape == (1, 5 * 16000)
    assert [r["reason"] for r in report_rows(tmp_path / "ks")] == ["video unavailable"]
    # YouTube-360 needs 4-channel (FOA) audio: a stereo upload is reported, not converted
    (lists / "train.txt").write_text("vidLong0001\n# comment\n")
    (lists / "segments.txt").write_text("vidLong0001-0\nvidOther001-10\n")
    cfg = source_cfg(
        "yt360",
        id_lists=[str(lists / "train.txt")],
        segments=str(lists / "segments.txt"),
        sample_rate=16000,
        fps=10,
        frame_width=224,
        frame_height=112,
        ytdlp=cfg["ytdlp"],
    )
    fetch_dataset("yt360", cfg, tmp_path / "yt", tmp_path / "dl", progress=False)
    rows = report_rows(tmp_path / "yt")
    assert [(r["clip_id"], r["reason"]) for r in rows] == [
        ("vidLong0001-0", "2-channel audio where 4 channels are expected")
    ]


def test_list_readers(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"videos": {"cello": ["a", "b", "a"], "flute": ["c"]}}))
    assert read_music_list(tmp_path / "m.json") == [("cello", "a"), ("cello", "b"), ("flute", "c")]
    assert read_music_list(tmp_path / "m.json", ["flute"]) == [("flute", "c")]
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected"):
        read_music_list(tmp_path / "bad.json")
    (tmp_path / "as.csv").write_text(
        "# Segments csv\n# YTID, start_seconds, end_seconds, positive_labels\n"
        '--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"\n'
    )
    seg = read_segment_csv(tmp_path / "as.csv")[0]
    assert (seg.video_id, seg.start, seg.end, seg.clip_id) == ("--PJHxphWEs", 30.0, 40.0, "--PJHxphWEs-30")
    (tmp_path / "seg.txt").write_text("ab-c_D-12\nxyz 5\nxyz 20 25\n")
    segs = read_segments(tmp_path / "seg.txt")
    assert [(s.video_id, s.start, s.end) for s in segs] == [
        ("ab-c_D", 12.0, 22.0),
        ("xyz", 5.0, 15.0),
        ("xyz", 20.0, 25.0),
    ]
    (tmp_path / "ids.txt").write_text("a\n\nb # x\na\n")
    assert read_ids(tmp_path / "ids.txt") == ["a", "b"]


def test_missing_ytdlp_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(MissingYtDlpError, match="pip install yt-dlp"):
        ytdlp_command({"ytdlp": str(tmp_path / "no-such-yt-dlp")})
    (tmp_path / "l.json").write_text(json.dumps({"videos": {"cello": ["a"]}}))
    cfg = source_cfg(
        "music", lists=[str(tmp_path / "l.json")], clips_per_video=1, ytdlp=str(tmp_path / "no-such-yt-dlp")
    )
    with pytest.raises(MissingYtDlpError, match="pip install yt-dlp"):
        fetch_dataset("music", cfg, tmp_path / "raw", tmp_path / "dl", progress=False)
    assert not (tmp_path / "raw").exists()


def test_failure_classification():
    removed = "ERROR: [youtube] x: Video unavailable. This video has been removed"
    assert classify_failure(removed) == "video unavailable"
    assert classify_failure("ERROR: HTTP Error 429: Too Many Requests").startswith("rate-limited")
    assert classify_failure("WARNING: a\nERROR: something odd") == "yt-dlp failed: ERROR: something odd"


def test_cli_download_from_params_without_ytdlp(tmp_path, monkeypatch, capsys, root):
    import yaml

    from avrepro.cli import main

    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    raw = yaml.safe_load((root / "params.yaml").read_text())
    (tmp_path / "l.json").write_text(json.dumps({"videos": {"cello": ["a"]}}))
    raw["common"]["datasets"]["music"]["lists"] = [str(tmp_path / "l.json")]
    raw["common"]["datasets"]["music"]["ytdlp"] = str(tmp_path / "no-such-yt-dlp")
    (tmp_path / "workflow/schemas").mkdir(parents=True)
    (tmp_path / "workflow/schemas/params.schema.yaml").write_text(
        (root / "workflow/schemas/params.schema.yaml").read_text()
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    rc = main(
        [
            "download",
            "--dataset",
            "music",
            "--params",
            str(tmp_path / "params.yaml"),
            "--out",
            str(tmp_path / "raw"),
            "--no-progress",
        ]
    )
    assert rc == 1
    assert "pip install yt-dlp" in capsys.readouterr().err


def write_levels_video(path, seconds=12.0, fps=30, rate=24000, size=(96, 48)):
    """A 'YouTube-360 upload' whose ambiX channels W, Y, Z, X have distinct levels."""
    width, height = size
    frames = np.stack(
        [np.full((height, width, 3), (i * 3) % 255, np.uint8) for i in range(int(seconds * fps))]
    )
    t = np.arange(int(seconds * rate)) / rate
    levels = np.array([0.3, 0.2, 0.05, 0.1])[:, None]
    write_foa_video(path, frames, levels * np.sin(2 * np.pi * 440 * t), rate=rate, fps=fps)


def test_yt360_foa_through_verify_and_cache(tmp_path):
    from avrepro.data.cache import FeatureCache, build_cache

    write_levels_video(tmp_path / "foa.mp4")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "test.txt").write_text("vid360A0001\nvid360B0001\n")
    (lists / "segments.txt").write_text("vid360A0001-0\nvid360A0001-10\nvid360B0001-1\nvidNotListed-0\n")
    cfg = source_cfg(
        "yt360",
        id_lists=[str(lists / "test.txt")],
        segments=str(lists / "segments.txt"),
        ytdlp=fake_ytdlp(tmp_path, {"vid360A0001": tmp_path / "foa.mp4"}),
    )
    fetch_dataset("yt360", cfg, tmp_path / "raw", tmp_path / "dl", progress=False)
    raw = tmp_path / "raw"
    # 0-10 s fits the 12-s video, 10-20 s does not (skipped), B is gone, the unlisted id is ignored
    assert json.loads((raw / "dataset.json").read_text())["clips"] == ["vid360A0001-0"]
    assert [(r["clip_id"], r["reason"]) for r in report_rows(raw)] == [("vid360B0001-1", "video unavailable")]
    foa, rate = read_wav(raw / "foa/vid360A0001-0.wav")
    assert rate == 24000 and foa.shape == (4, 240000)
    # ambiX channel order kept: W, Y, Z, X
    assert np.allclose(np.abs(foa).max(axis=1), [0.3, 0.2, 0.05, 0.1], atol=2e-3)
    verify = {**smoke_config()["verify"], "channels": 4, "audio_dir": "foa"}
    manifest = verify_dataset(raw, "yt360", verify, tmp_path / "m.csv", tmp_path / "i.csv", progress=False)
    assert list(manifest["clip_id"]) == ["vid360A0001-0"] and manifest["fps"].iloc[0] == 16
    (tmp_path / "all.txt").write_text("vid360A0001-0\n")
    feats = {"sample_rate": 24000, "frame_width": 64, "frame_height": 32}
    build_cache(tmp_path / "m.csv", raw, tmp_path / "all.txt", tmp_path / "cache", feats, progress=False)
    cache = FeatureCache(tmp_path / "cache", expect=feats)
    assert cache.channels == 4 and cache.frames(0).shape == (160, 32, 64, 3)


def fetch_intervals(tmp_path, videos, workers: int) -> list[tuple[float, float]]:
    """When each of 4 listed videos was fetched, with ``workers`` fetches at a time."""
    ids = [f"vidPar{k:05d}" for k in range(4)]
    (tmp_path / "segments.csv").write_text("\n".join(f"{vid},0.000,2.000,/m/x" for vid in ids) + "\n")
    ytdlp = fake_ytdlp(tmp_path, dict.fromkeys(ids, videos["short"]))
    (tmp_path / "bin" / "yt-dlp.py.calls").write_text("")
    cfg = source_cfg("kinetics", lists=[str(tmp_path / "segments.csv")], ytdlp=ytdlp)
    fetch_dataset("kinetics", cfg, tmp_path / "ks", tmp_path / "dl", workers=workers, progress=False)
    assert len(json.loads((tmp_path / "ks/dataset.json").read_text())["clips"]) == 4
    rows = (tmp_path / "bin" / "yt-dlp.py.calls").read_text().split("\n")
    return sorted((float(r.split()[1]), float(r.split()[2])) for r in rows if r)


@pytest.mark.parametrize("workers, overlap", [(1, False), (3, True)])
def test_videos_are_fetched_workers_at_a_time(tmp_path, videos, workers, overlap):
    spans = fetch_intervals(tmp_path, videos, workers)
    assert len(spans) == 4
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)) is overlap


def test_a_killed_conversion_resumes_without_decoding_again(tmp_path, videos, monkeypatch):
    """A conversion killed after its first video resumes from `data/downloads/<name>/converting`:
    the rerun decodes only the videos not converted yet, and its output equals a fresh run's."""
    import avrepro.data.sources._youtube as youtube

    ids = [f"vidRes{k:05d}" for k in range(3)]
    (tmp_path / "segments.csv").write_text("".join(f"{vid},0.000,2.000,/m/x\n" for vid in ids))
    ytdlp = fake_ytdlp(tmp_path, dict.fromkeys(ids, videos["short"]))
    cfg = source_cfg("kinetics", lists=[str(tmp_path / "segments.csv")], ytdlp=ytdlp)
    decoded, decode = [], youtube._decode_video

    def killed_at_the_second(file, *args):
        decoded.append(Path(file).stem)
        if decoded == ids[:2]:
            raise KeyboardInterrupt
        return decode(file, *args)

    monkeypatch.setattr(youtube, "_decode_video", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        fetch_dataset("kinetics", cfg, tmp_path / "ks", tmp_path / "dl", progress=False)
    assert not (tmp_path / "ks").exists() and (tmp_path / "dl/converting/.resume").is_dir()
    decoded.clear()
    fetch_dataset("kinetics", cfg, tmp_path / "ks", tmp_path / "dl", progress=False)
    assert decoded == ids[1:]  # the first video's clip was kept
    assert not (tmp_path / "dl/converting").exists() and not (tmp_path / "ks/.resume").exists()
    fetch_dataset("kinetics", cfg, tmp_path / "fresh", tmp_path / "dl2", progress=False)
    for name in ("dataset.json", *(f"audios/{vid}-0.wav" for vid in ids)):
        assert (tmp_path / "ks" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes(), name
