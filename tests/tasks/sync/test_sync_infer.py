"""``avrepro sync``: on a test clip whose audio the test delays by a known offset the verb returns
the offset, every shift's score and the files it is asked for; a (window, shift) of the scan is
the evaluation's example, scored alike; unusable input fails with a message naming the file; the
demo writes its media and numbers. The model is untrained (plumbing, not quality)."""

from __future__ import annotations

import functools
import json
import re

import numpy as np
import pytest
import torch

from avrepro.media import media_duration, probe_mp4, read_media_audio, read_mp4_frames, read_wav, write_mp4
from avrepro.tasks import get_task
from avrepro.tasks.sync.data import Geometry, make_example
from avrepro.tasks.sync.evaluate import ModelScorer
from avrepro.tasks.sync.infer import (
    advance,
    demo_offset,
    load_clip,
    offset_media,
    plan_scan,
    resample_frames,
    scan_example,
    write_offset_clip,
)
from helpers import ROOT, trained

PARAMS = str(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def sync(task_caches, tmp_path_factory):
    """The smoke test split, its raw clips, and an untrained `fused` model loaded as the verb loads it."""
    return trained.verb_setup(task_caches, tmp_path_factory, "sync", "fused")


run_verb = functools.partial(trained.run_verb, "sync")


def delayed_clip(clip: dict, offset: int, out) -> tuple:
    """The raw clip as an mp4 with its audio late by ``offset`` frames; (path, fps)."""
    frames, fps = read_mp4_frames(clip["video"])
    audio, rate = read_wav(clip["audio"])
    return write_offset_clip(frames, fps, audio, rate, offset, out), fps


def test_verb_returns_the_offset_and_every_shift_score(sync, capsys, tmp_path):
    shifted, fps = delayed_clip(sync["raw"][0], 1, tmp_path / "late.mp4")
    out, cam, scores = tmp_path / "realigned.mp4", tmp_path / "cam.mp4", tmp_path / "scores.json"
    rc, summary, err = run_verb(
        capsys, shifted, "-o", out, "--cam", cam, "--json", scores, model_dir=sync["model_dir"]
    )
    assert rc == 0, err
    # smoke: 0.8 s windows, trained on shifts of 0.3-0.7 s; the 1.4 s clip leaves room for ±0.3 s
    assert summary["shifts_s"] == pytest.approx([-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3])
    assert len(summary["scores"]) == 7 and all(0 <= s <= 1 for s in summary["scores"])
    best = int(np.argmax(summary["scores"]))
    assert summary["offset_s"] == pytest.approx(summary["shifts_s"][best])
    assert summary["confidence"] == pytest.approx(summary["best_score"] - np.median(summary["scores"]))
    assert summary["variant"] == "fused" and summary["sign"].startswith("positive: the audio is late")
    assert summary["n_windows"] == 7 and summary["window_s"] == pytest.approx(0.8)  # every start
    assert probe_mp4(out)["has_audio"] and probe_mp4(cam)["has_audio"]
    assert media_duration(out) == pytest.approx(media_duration(shifted), abs=0.1)
    assert len(read_mp4_frames(cam)[0]) == len(read_mp4_frames(shifted)[0])
    stored = json.loads(scores.read_text())
    assert np.asarray(stored["window_logits"]).shape == (7, 7) and stored["offset_s"] == summary["offset_s"]


def test_another_frame_rate_size_and_sample_rate(sync, capsys, tmp_path):
    """A 30 fps 96 x 48 clip with 22.05 kHz sound is scanned at the model's 10 fps and sizes."""
    clip = sync["raw"][0]
    frames, _ = read_mp4_frames(clip["video"])
    frames = np.repeat(frames[:, ::2, ::2][:, :48, :96], 3, axis=0)  # 1.5 s at 30 fps
    frames = np.concatenate([frames, frames[:18]])  # 2.1 s
    audio, _ = read_wav(clip["audio"])  # 1.5 s at 16 kHz
    audio = np.repeat(audio, 2, axis=1)[:, :46305]  # 2.1 s at 22.05 kHz
    video = tmp_path / "thirty.mp4"
    write_mp4(video, frames, 30, audio=audio * 0.5, audio_rate=22050)
    rc, summary, err = run_verb(capsys, video, "-o", tmp_path / "out.mp4", model_dir=sync["model_dir"])
    assert rc == 0, err
    # 21 frames at 10 fps: 13 beyond one 0.8 s window, half of it: ±0.6 s
    assert summary["fps"] == 10 and summary["step_s"] == pytest.approx(0.1)
    assert summary["max_shift_s"] == pytest.approx(0.6) and len(summary["scores"]) == 13
    assert probe_mp4(tmp_path / "out.mp4")["fps"] == pytest.approx(30)
    assert media_duration(tmp_path / "out.mp4") == pytest.approx(2.1, abs=0.1)


def test_realigned_audio_is_advanced_by_the_estimate(sync, tmp_path):
    shifted, fps = delayed_clip(sync["raw"][0], 1, tmp_path / "late.mp4")
    media = load_clip(shifted, sync["cfg"], fps)
    from avrepro.tasks.sync.infer import write_realigned

    write_realigned(media, 0.2, tmp_path / "re.mp4")
    before, rate = read_media_audio(shifted)
    after, _ = read_media_audio(tmp_path / "re.mp4")
    lag = int(0.2 * rate)
    n = min(before.shape[1], after.shape[1]) - lag - 2048
    assert np.abs(after[:, :n] - before[:, lag : lag + n]).max() < 0.05  # AAC re-encoded


def test_a_scan_example_is_the_evaluations(sync):
    """A clip of the test split read from its raw files: each (window, shift) of the scan has
    the evaluation's frames and audio windows, and the net scores them alike."""
    test, cfg = sync["test"], sync["cfg"]
    clip = sync["raw"][0]
    i = test.position(clip["clip_id"])
    media = load_clip(clip["video"], cfg, test.fps, audio=clip["audio"])
    plan = plan_scan(media, cfg["sample"], None, 4)
    geo = Geometry(plan.geo.frames, plan.geo.samples, plan.geo.samples_per_frame, plan.geo.max_start, (3,))
    v, s = plan.starts[0], plan.shifts[-1]
    ours = scan_example(media, cfg["sample"], plan.geo, v, (0, s))
    theirs = make_example(test, i, cfg["sample"], geo, (v, v + s))
    assert torch.equal(ours["frames"], theirs["frames"]) and torch.equal(ours["audio"], theirs["audio"])
    logits, _ = ModelScorer(sync["model"]).scores([theirs], 1)
    with torch.inference_mode():
        mine = sync["model"](ours["frames"][None], ours["audio"][None]).numpy()
    np.testing.assert_allclose(mine, logits, atol=1e-5)


def test_known_offsets_and_frame_rates():
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None].repeat(3, axis=3)
    audio = np.arange(100, dtype=np.float32)[None] / 100  # 10 samples a frame
    late, sound = offset_media(frames, audio, 10.0, 100, 2)  # the frame k is heard at frame k + 2
    assert late[0, 0, 0, 0] == 2 and sound[0, 0] == 0.0 and len(late) == 8 and sound.shape[1] == 80
    early, sound = offset_media(frames, audio, 10.0, 100, -2)
    assert early[0, 0, 0, 0] == 0 and sound[0, 0] == pytest.approx(0.2) and sound.shape[1] == 80
    assert advance(audio, 10)[0, 0] == pytest.approx(0.1) and advance(audio, -10)[0, 10] == 0.0
    assert [demo_offset(k, 30, 15, 10.0) for k in range(5)] == [4, -4, 2, -2, 4]
    thirty = np.arange(90)[:, None, None, None]
    assert resample_frames(thirty, 30.0, 10.0)[:, 0, 0, 0].tolist() == list(range(0, 90, 3))


def test_bad_input_names_the_file_and_the_reason(sync, capsys, tmp_path):
    clip = sync["raw"][0]
    video = clip["video"]  # the dataset's videos are silent: the sound is a separate wav
    rc, _, err = run_verb(capsys, video, model_dir=sync["model_dir"])
    assert (
        rc == 1 and f"avrepro sync: error: {video}: no audio stream (give its sound with --audio WAV)" in err
    )
    frames, fps = read_mp4_frames(video)
    audio, rate = read_wav(clip["audio"])
    short = tmp_path / "short.mp4"
    write_mp4(short, frames[:10], int(fps), audio=audio[:, : 10 * rate // int(fps)], audio_rate=rate)
    rc, _, err = run_verb(capsys, short, model_dir=sync["model_dir"])
    # the AAC track decodes to whole 1024-sample frames: 1.02 s
    assert rc == 1 and re.search(
        rf"{re.escape(str(short))}: too short: 1\.00 s of video and 1\.0\d s of audio; one 0\.8 s window "
        r"with the audio shifted by ±0\.3 s \(the smallest shift the model was trained to detect, "
        r"sample\.shift_seconds\[0\], both ways\) needs 1\.40 s of both",
        err,
    )
    rc, _, err = run_verb(
        capsys, video, "--audio", clip["audio"], "--max-shift", "0.8", model_dir=sync["model_dir"]
    )
    assert rc == 1 and "±0.8 s (a smaller --max-shift needs less) needs 1.60 s of both" in err
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    rc, _, err = run_verb(capsys, text, model_dir=sync["model_dir"])
    assert rc == 1 and f"avrepro sync: error: {text}: not a readable video" in err
    rc, _, err = run_verb(capsys, clip["audio"], model_dir=sync["model_dir"])
    assert rc == 1 and f"avrepro sync: error: {clip['audio']}: no video stream" in err


def test_demo_writes_the_shifted_realigned_and_cam_videos(sync, tmp_path):
    shown = get_task("sync").demo(sync["model"], sync["cfg"], sync["raw"][:2], tmp_path, progress=False)
    assert [it["numbers"]["true_offset_s"] for it in shown["items"]] == pytest.approx([0.1, -0.1])
    for it in shown["items"]:
        assert set(it["numbers"]) == {"true_offset_s", "estimated_offset_s", "error_s", "confidence"}
        n = it["numbers"]
        assert n["error_s"] == pytest.approx(n["estimated_offset_s"] - n["true_offset_s"])
        assert [f.split("_", 1)[1] for f in it["files"]] == ["shifted.mp4", "realigned.mp4", "cam.mp4"]
        assert all(probe_mp4(tmp_path / f)["has_audio"] for f in it["files"])
    assert set(shown["summary"]) == {"mean_abs_error_s", "within_one_frame", "n_clips"}
    assert shown["summary"]["n_clips"] == 2
