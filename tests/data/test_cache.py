"""cache: decoded memory-mapped shards round-trip the media, are keyed, and are written atomically."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import avrepro.data.cache as cache_mod
from avrepro.data.cache import CacheError, FeatureCache, build_cache
from avrepro.data.verify import DataIssueError, verify_dataset
from avrepro.media import MediaError, read_mp4_frames, write_mp4, write_wav
from helpers.configs import smoke_config

FPS, RATE = 10, 16000
FEATURES = {"sample_rate": 16000, "frame_width": 24, "frame_height": 12}
IDS = ["c0", "c1", "c2", "c3", "c4"]


def make_clip(
    raw: Path, clip_id: str, seconds: float, rate: int = RATE, seed: int = 0, meta: bool = True
) -> None:
    rng = np.random.default_rng(seed)
    n_frames = int(round(seconds * FPS))
    frames = rng.integers(0, 256, (n_frames, 32, 64, 3), dtype=np.uint8)
    write_mp4(raw / "videos" / f"{clip_id}.mp4", frames, FPS)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    audio = np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 660 * t)])
    audio = (audio + 0.05 * rng.standard_normal(audio.shape)).astype(np.float32)
    write_wav(raw / "binaural_audios" / f"{clip_id}.wav", audio, rate)
    if meta:
        (raw / "meta").mkdir(parents=True, exist_ok=True)
        (raw / "meta" / f"{clip_id}.json").write_text(
            json.dumps(
                {
                    "clip_id": clip_id,
                    "group": f"room_{clip_id}",
                    "fps": FPS,
                    "sample_rate": rate,
                    "duration_s": seconds,
                    "sources": [seed],
                }
            )
        )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Five clips of different lengths (one without meta, one at 8 kHz), verified, all in 'train'."""
    root = tmp_path_factory.mktemp("cache")
    raw = root / "raw"
    for i, cid in enumerate(IDS):
        make_clip(
            raw,
            cid,
            seconds=[1.0, 1.5, 0.8, 1.2, 1.0][i],
            seed=i,
            rate=8000 if cid == "c3" else RATE,
            meta=cid != "c2",
        )
    (raw / "dataset.json").write_text(json.dumps({"name": "t", "clips": IDS}))
    manifest = root / "manifests" / "t.csv"
    verify = smoke_config({"verify": {"min_seconds": 0.5, "strict": True}})["verify"]
    verify_dataset(raw, "t", verify, manifest, root / "issues.csv", progress=False)
    split = root / "splits" / "train.txt"
    split.parent.mkdir()
    split.write_text("c4\nc0\nc1\nc2\nc3\n")  # order of the split file does not matter
    return root, raw, manifest, split


def build(data, out, **kw):
    root, raw, manifest, split = data
    kw.setdefault("features", FEATURES)
    return build_cache(manifest, raw, split, out, progress=False, **kw)


def test_round_trip_and_shards(data, tmp_path):
    root, raw, _, _ = data
    index = build(data, tmp_path / "cache", shard_clips=2)
    cache = FeatureCache(tmp_path / "cache", expect=FEATURES)
    assert len(cache) == 5 and cache.clip_ids == IDS  # manifest order
    assert (cache.sample_rate, cache.fps, cache.channels, cache.frame_size) == (16000, 10.0, 2, (24, 12))
    assert [s["n_clips"] for s in index["shards"]] == [2, 2, 1]
    assert [(c["shard"], c["row"]) for c in index["clips"]] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        ".contents.json",
        "audio_00000.npy",
        "audio_00001.npy",
        "audio_00002.npy",
        "frames_00000.npy",
        "frames_00001.npy",
        "frames_00002.npy",
        "index.json",
    ]
    a0 = np.load(tmp_path / "cache" / "audio_00000.npy", mmap_mode="r")
    assert a0.shape == (2, 2, 24000) and a0.dtype == np.int16  # padded to the longer clip (1.5 s)
    for i, cid in enumerate(IDS):
        audio, frames = cache.audio(i), cache.frames(i)
        assert isinstance(audio, np.memmap) and isinstance(frames, np.memmap)
        assert audio.dtype == np.int16 and frames.dtype == np.uint8
        want_frames, _ = read_mp4_frames(raw / "videos" / f"{cid}.mp4", size=(24, 12))
        assert frames.shape == want_frames.shape and np.array_equal(frames, want_frames)
        if cid == "c3":  # 8 kHz source, resampled to 16 kHz
            assert audio.shape == (2, 19200)
            src, _ = sf.read(str(raw / "binaural_audios" / "c3.wav"), dtype="float32", always_2d=True)
            assert np.corrcoef(audio[0, ::2] / 32767.0, src[:, 0])[0, 1] > 0.99
        else:
            src, _ = sf.read(str(raw / "binaural_audios" / f"{cid}.wav"), dtype="int16", always_2d=True)
            assert audio.shape == src.T.shape
            assert np.abs(audio.astype(np.int32) - src.T.astype(np.int32)).max() <= 1
        info = cache.info(i)
        assert info["clip_id"] == cid and info["n_samples"] == audio.shape[1]
        assert info["n_frames"] == frames.shape[0]
    assert cache.meta(0)["sources"] == [0] and cache.meta(0) is cache.meta(0)
    assert cache.info(2)["meta"] is None and cache.meta(2) is None
    assert cache.groups[0] == "room_c0" and cache.groups[2] == "c2"
    assert cache.position("c3") == 3
    assert index["key"]["dataset"] == "t" and index["key"]["split"] == "train"
    with pytest.raises(ValueError):  # read-only maps
        cache.audio(0)[0, 0] = 1


def test_key_mismatch_is_a_clear_error(data, tmp_path):
    build(data, tmp_path / "cache", features={**FEATURES, "frame_width": 136})
    with pytest.raises(
        CacheError,
        match=r"was built with frame_width=136, expected 128: "
        r"rerun cache_features",
    ):
        FeatureCache(tmp_path / "cache", expect={**FEATURES, "frame_width": 128})
    with pytest.raises(CacheError, match="has no index.json"):
        FeatureCache(tmp_path / "nothing")


def test_key_hash_follows_features(data, tmp_path):
    a = build(data, tmp_path / "a")
    b = build(data, tmp_path / "b")
    c = build(data, tmp_path / "c", features={**FEATURES, "sample_rate": 8000})
    assert a["key_hash"] == b["key_hash"] != c["key_hash"]
    assert FeatureCache(tmp_path / "c").audio(0).shape == (2, 8000)


def test_failure_mid_build_leaves_nothing(data, tmp_path, monkeypatch):
    calls = []

    def flaky(path, size=None):
        calls.append(path)
        if len(calls) == 3:
            raise MediaError(path, "corrupt or truncated video (simulated)")
        return read_mp4_frames(path, size=size)

    monkeypatch.setattr(cache_mod, "read_mp4_frames", flaky)
    with pytest.raises(MediaError, match="simulated"):
        build(data, tmp_path / "out" / "train", shard_clips=2)
    assert list((tmp_path / "out").iterdir()) == []  # no out_dir, no temp dir
    # an existing cache survives a failed rebuild untouched
    monkeypatch.setattr(cache_mod, "read_mp4_frames", read_mp4_frames)
    build(data, tmp_path / "out" / "train")
    before = (tmp_path / "out" / "train" / "index.json").read_bytes()
    calls.clear()
    monkeypatch.setattr(cache_mod, "read_mp4_frames", flaky)
    with pytest.raises(MediaError):
        build(data, tmp_path / "out" / "train", features={**FEATURES, "frame_width": 32})
    assert (tmp_path / "out" / "train" / "index.json").read_bytes() == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["train"]


def test_pickles_without_copying_arrays(data, tmp_path):
    build(data, tmp_path / "cache")
    cache = FeatureCache(tmp_path / "cache")
    blob = pickle.dumps(cache)
    assert len(blob) < 20000
    clone = pickle.loads(blob)
    assert np.array_equal(clone.frames(1), cache.frames(1))


def test_split_errors(data, tmp_path):
    root, raw, manifest, _ = data
    bad = tmp_path / "val.txt"
    bad.write_text("c0\nzz\n")
    with pytest.raises(DataIssueError, match="1 clip id\\(s\\) not in .*first: 'zz'"):
        build_cache(manifest, raw, bad, tmp_path / "c", FEATURES, progress=False)
    bad.write_text("")
    with pytest.raises(DataIssueError, match="split is empty"):
        build_cache(manifest, raw, bad, tmp_path / "c", FEATURES, progress=False)
    with pytest.raises(ValueError, match="frame_height"):
        build_cache(
            manifest, raw, bad, tmp_path / "c", {"sample_rate": 16000, "frame_width": 8}, progress=False
        )
    assert not (tmp_path / "c").exists()
