"""Clips decoded from any media file read exactly like the feature cache built from the same files,
so the inference verbs feed the task code what the evaluation feeds it."""

from __future__ import annotations

import numpy as np
import pytest

from avrepro.data.media_clips import MediaClips, decode_clip, split_clips
from avrepro.media import MediaError, media_duration, read_media_audio, replace_audio, write_mp4


def test_decoded_clip_equals_the_cache(task_caches):
    got = task_caches("binaural")
    test, view = got["caches"]["test"], got["view"]
    feats = got["cfg"]["binaural"]["features"]
    clip = split_clips(view["manifest"], view["raw"], view["splits"] / "test.txt", 1)[0]
    decoded = decode_clip(
        clip["video"],
        feats["sample_rate"],
        (feats["frame_width"], feats["frame_height"]),
        audio=clip["audio"],
    )
    clips = MediaClips([decoded], feats["sample_rate"])
    i = test.position(clip["clip_id"])
    assert np.array_equal(clips.audio(0), test.audio(i))
    assert np.array_equal(clips.frames(0), test.frames(i))
    assert clips.fps == pytest.approx(test.fps)
    assert clips.frame_size == test.frame_size and clips.channels == test.channels


def test_split_clips_spread_over_the_split(tiny_data):
    view = tiny_data["views"]["synthetic"]
    ids = (view["splits"] / "test.txt").read_text().split()
    picked = split_clips(view["manifest"], view["raw"], view["splits"] / "test.txt", 2)
    assert [c["clip_id"] for c in picked] == [ids[0], ids[-1]]
    assert all(c["video"].is_file() and c["audio"].is_file() and c["meta"] for c in picked)
    everything = split_clips(view["manifest"], view["raw"], view["splits"] / "test.txt", 1000)
    assert [c["clip_id"] for c in everything] == ids


def test_replace_audio_keeps_the_video_and_swaps_the_sound(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (24, 32, 48, 3), dtype=np.uint8)
    mono = 0.3 * np.sin(np.linspace(0, 400, 16000))[None].astype(np.float32)
    write_mp4(tmp_path / "in.mp4", frames, 12, audio=mono, audio_rate=16000)
    stereo = np.concatenate([mono, np.zeros_like(mono)])
    replace_audio(tmp_path / "in.mp4", stereo, 16000, tmp_path / "out.mp4")
    audio, rate = read_media_audio(tmp_path / "out.mp4")
    assert rate == 16000 and audio.shape[0] == 2
    assert np.abs(audio[1]).max() < 1e-3 < np.abs(audio[0]).max()
    assert decode_clip(tmp_path / "out.mp4", 16000, (48, 32)).frames.shape[0] == 24
    assert media_duration(tmp_path / "out.mp4") == pytest.approx(2.0, abs=0.1)


def test_a_video_without_sound_is_named(tmp_path):
    write_mp4(tmp_path / "silent.mp4", np.zeros((4, 16, 16, 3), np.uint8), 4)
    with pytest.raises(MediaError, match=r"silent\.mp4: no audio stream"):
        decode_clip(tmp_path / "silent.mp4", 16000, (16, 16))
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(MediaError, match=r"notes\.mp4"):
        decode_clip(tmp_path / "notes.mp4", 16000, (16, 16))
