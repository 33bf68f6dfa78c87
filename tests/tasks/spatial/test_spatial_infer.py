"""``avrepro locate``: a synthetic 360 test clip gives the heat-map video, the image and a summary
with the peak direction; its scores are the evaluation's alignment matrix for that clip;
unusable input fails with a message naming the file; the demo writes its media and numbers.
Models are untrained (plumbing, not quality: benchmarks/spatial_locate.py measures trained ones)."""

from __future__ import annotations

import functools
import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from avrepro.data.media_clips import decode_clip
from avrepro.media import probe_mp4, read_media_audio, write_mp4, write_wav
from avrepro.tasks import get_task
from avrepro.tasks.spatial import infer as loc
from avrepro.tasks.spatial.downstream import alignment_matrices
from helpers import ROOT, trained

PARAMS = str(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def spatial(task_caches, tmp_path_factory):
    """The smoke test split, its raw 360 clips, and an untrained AVSA model loaded as the verb
    loads it (with the smoke profile's eval settings)."""
    return trained.verb_setup(task_caches, tmp_path_factory, "spatial", "avsa")


run_verb = functools.partial(trained.run_verb, "locate")


def test_locate_writes_the_video_the_image_and_the_peak(spatial, capsys, tmp_path):
    clip = spatial["raw"][0]
    out, png, js = tmp_path / "heat.mp4", tmp_path / "heat.png", tmp_path / "heat.json"
    rc, summary, err = run_verb(
        capsys, clip["video"], "--foa", clip["audio"], "-o", out, "--png", png, "--json", js,
        model_dir=spatial["model_dir"],
    )  # fmt: skip
    assert rc == 0, err
    grid = summary["grid"]
    assert len(grid["yaws_deg"]) == 24 and grid["pitches_deg"] == [-30.0, -15.0, 0.0, 15.0, 30.0]
    seconds = read_media_audio(clip["audio"])[0].shape[1] / 16000
    assert len(summary["windows"]) == int(seconds / summary["window_s"] + 1e-6)
    for peak in [summary["overall"], *summary["windows"]]:
        assert peak["peak_yaw_deg"] in grid["yaws_deg"] and peak["peak_pitch_deg"] in grid["pitches_deg"]
    assert json.loads(js.read_text()) == {
        k: v for k, v in summary.items() if k not in ("task", "model", "variant")
    }
    info, src = probe_mp4(out), probe_mp4(clip["video"])
    assert info["has_audio"] and (info["width"], info["height"]) == (src["width"], src["height"])
    audio, rate = read_media_audio(out)
    assert audio.shape[0] == 1 and rate == 16000 and abs(audio.shape[1] / rate - seconds) < 0.1
    assert png.stat().st_size > 1000


def mux_foa_mkv(path, frames: np.ndarray, fps: Fraction, foa: np.ndarray, rate: int):
    """A 360 upload as a camera writes it: H.264 frames at ``fps`` and 4-channel ambiX PCM inside."""
    import av

    with av.open(str(path), "w", format="matroska") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        a = c.add_stream("pcm_s16le", rate=rate)
        a.layout = "quad"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, 1 / fps
            c.mux(v.encode(frame))
        c.mux(v.encode())
        pcm = (np.clip(foa, -1, 1) * 32767).astype(np.int16)
        for s0 in range(0, pcm.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, s0 : s0 + 1024].T).reshape(1, -1), format="s16", layout="quad"
            )
            af.sample_rate, af.pts = rate, s0
            c.mux(a.encode(af))
        c.mux(a.encode())
    return path


def test_an_mkv_with_its_own_ambisonics_at_another_rate_and_size(spatial, capsys, tmp_path):
    """12.5 fps, 200x100, 48 kHz 4-channel audio inside the video: no --foa needed; the output
    keeps the input's size and length."""
    clip = spatial["raw"][0]
    src = decode_clip(clip["video"], 48000, (200, 100), clip["audio"])
    fps = Fraction(25, 2)
    n = int(src.audio.shape[1] / 48000 * fps)
    frames = src.frames[np.minimum(len(src.frames) - 1, (np.arange(n) / fps * src.fps).astype(int))]
    video = mux_foa_mkv(tmp_path / "upload.mkv", frames, fps, src.audio.astype(np.float32) / 32767, 48000)
    rc, summary, err = run_verb(capsys, video, "-o", tmp_path / "o.mp4", model_dir=spatial["model_dir"])
    assert rc == 0, err
    assert summary["foa"] == str(video) and len(summary["windows"]) == 3
    info = probe_mp4(tmp_path / "o.mp4")
    assert (info["width"], info["height"], info["fps"]) == (200, 100, 12.0)
    assert abs(info["frames"] / info["fps"] - n / float(fps)) <= 1 / 12


def test_scores_are_the_evaluations_alignment_matrix(spatial):
    """On the evaluation's ring (yaw step 360 / m, horizon, its crops) and its centred window, the
    verb's similarities of a raw clip equal the evaluation's alignment matrix for that clip."""
    cfg, test = spatial["cfg"], spatial["test"]
    acfg = cfg["eval"]["alignment"]
    m, fov = int(acfg["viewpoints"]), float(acfg["fov_deg"])
    clip = spatial["raw"][0]
    clips = loc.load_foa_clip(clip["video"], clip["audio"], cfg)
    grid = loc.direction_grid(cfg, 360.0 / m, 0.0, None)
    n = loc.window_samples(cfg, clips.sample_rate)
    start = max(0, (clips.info(0)["n_samples"] - n) // 2)
    with torch.inference_mode():
        ours = loc.window_similarity(spatial["model"], clips, start, n, grid, cfg)
        theirs = alignment_matrices(spatial["model"], test, cfg, m, fov)[test.position(clip["clip_id"])]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_array_equal(loc.direction_scores(ours, "aligned", (1, m))[0], np.diagonal(ours))


def test_heat_map_peaks_where_the_grid_does():
    grid = loc.Grid(tuple(180.0 - 30.0 * q for q in range(12)), (-30.0, 0.0, 30.0), 60.0)
    scores = np.zeros(grid.shape)
    scores[1, 3] = 1.0  # yaw 90 (left), pitch 0
    heat = loc.equirect_heat(scores, grid, 64, 32)
    row, col = np.unravel_index(heat.argmax(), heat.shape)
    assert loc.peak_direction(scores, grid) == (90.0, 0.0)
    assert col in (15, 16) and row in (15, 16)  # a quarter of the width from the left, the middle row
    np.testing.assert_allclose(heat[0], heat[1])  # above the top pitch: the top row's value


def test_windows_average_the_models_windows(spatial):
    clips = loc.load_foa_clip(spatial["raw"][0]["video"], spatial["raw"][0]["audio"], spatial["cfg"])
    n = loc.window_samples(spatial["cfg"], 16000)
    win = loc.plan_windows(clips, spatial["cfg"], 2.5 * n / 16000, n / 16000 / 2)
    assert win.pieces == (0, int(round(0.75 * n)), int(round(1.5 * n))) and win.hop == n // 2
    with pytest.raises(ValueError, match="shorter than the model's audio window"):
        loc.plan_windows(clips, spatial["cfg"], 0.5 * n / 16000, None)


@pytest.fixture()
def clip_media(spatial, tmp_path):
    """A raw test clip's frames and FOA to build bad inputs from."""
    clip = spatial["raw"][0]
    decoded = decode_clip(clip["video"], 16000, (128, 64), clip["audio"])
    return {"frames": decoded.frames, "foa": decoded.audio.astype(np.float32) / 32767.0, "clip": clip}


def test_a_two_channel_wav_is_refused(spatial, clip_media, capsys, tmp_path):
    stereo = tmp_path / "stereo.wav"
    write_wav(stereo, clip_media["foa"][:2], 16000)
    rc, _, err = run_verb(
        capsys,
        clip_media["clip"]["video"],
        "--foa",
        stereo,
        "-o",
        tmp_path / "o.mp4",
        model_dir=spatial["model_dir"],
    )
    assert rc == 1
    assert err.strip() == (
        f"avrepro locate: error: {stereo}: 2 audio channel(s); locate needs 4-channel first-order "
        "ambisonics (ambiX: W, Y, Z, X)"
    )


def test_a_video_without_ambisonics_and_no_foa_is_refused(spatial, clip_media, capsys, tmp_path):
    silent, stereo = tmp_path / "silent.mp4", tmp_path / "stereo.mp4"
    write_mp4(silent, clip_media["frames"], 10)
    write_mp4(stereo, clip_media["frames"], 10, audio=clip_media["foa"][:2], audio_rate=16000)
    rc, _, err = run_verb(capsys, silent, "-o", tmp_path / "o.mp4", model_dir=spatial["model_dir"])
    assert rc == 1
    assert err.strip() == (
        f"avrepro locate: error: {silent}: no audio stream; locate needs 4-channel ambiX FOA: "
        "pass it with --foa WAV"
    )
    rc, _, err = run_verb(capsys, stereo, "-o", tmp_path / "o.mp4", model_dir=spatial["model_dir"])
    assert rc == 1
    assert err.strip() == (
        f"avrepro locate: error: {stereo}: 2 audio channel(s); locate needs 4-channel first-order "
        "ambisonics (ambiX: W, Y, Z, X); pass the FOA with --foa WAV"
    )


def test_audio_shorter_than_one_window_is_refused(spatial, clip_media, capsys, tmp_path):
    short = tmp_path / "short.wav"
    write_wav(short, clip_media["foa"][:, :4800], 16000)  # 0.3 s; the smoke model's window is 0.5 s
    rc, _, err = run_verb(
        capsys,
        clip_media["clip"]["video"],
        "--foa",
        short,
        "-o",
        tmp_path / "o.mp4",
        model_dir=spatial["model_dir"],
    )
    assert rc == 1
    assert err.strip() == f"avrepro locate: error: {short}: 0.30 s of audio, shorter than one window (0.5 s)"


def test_a_file_that_is_not_a_video_is_refused(spatial, clip_media, capsys, tmp_path):
    text, wav = tmp_path / "notes.mp4", tmp_path / "sound.wav"
    text.write_text("not a video\n")
    write_wav(wav, clip_media["foa"], 16000)
    rc, _, err = run_verb(
        capsys, text, "--foa", wav, "-o", tmp_path / "o.mp4", model_dir=spatial["model_dir"]
    )
    assert rc == 1
    assert err.startswith(f"avrepro locate: error: {text}: not a readable video (")
    rc, _, err = run_verb(capsys, wav, "-o", tmp_path / "o.mp4", model_dir=spatial["model_dir"])
    assert rc == 1
    assert err.strip() == f"avrepro locate: error: {wav}: no video stream"


def test_demo_writes_heat_maps_and_the_error_to_the_nearest_source(spatial, tmp_path):
    from avrepro.engine.infer import run_demo

    clips = spatial["raw"][:2]
    task, ecfg = get_task("spatial"), spatial["cfg"]["eval"]
    shown = run_demo(task, spatial["model_dir"], ecfg, clips, tmp_path / "demo", progress=False)
    assert [i["clip"] for i in shown["items"]] == [c["clip_id"] for c in clips]
    for item, clip in zip(shown["items"], clips, strict=True):
        assert item["files"] == [f"{clip['clip_id']}_heatmap.mp4", f"{clip['clip_id']}_heatmap.png"]
        assert all((tmp_path / "demo" / f).is_file() for f in item["files"])
        nums = item["numbers"]
        sources = loc.view360_meta_sources(clip["meta"])
        assert nums["error_deg"] == pytest.approx(
            loc.source_errors(nums["peak_yaw_deg"], nums["peak_pitch_deg"], sources)[0]
        )
        assert 0.0 <= nums["error_deg"] <= 180.0
    assert shown["summary"]["clips"] == 2 and 0.0 <= shown["summary"]["within_45_deg"] <= 1.0
    assert read_media_audio(tmp_path / "demo" / shown["items"][0]["files"][0])[0].shape[0] == 1
