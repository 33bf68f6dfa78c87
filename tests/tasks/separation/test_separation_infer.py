"""``avrepro separate``: two test videos give the evaluation's numbers for that pair, one video
gives a wav per region and the sound-map video, unusable input fails with a message naming the
file, and the demo writes its media and numbers. Models are untrained (plumbing, not quality:
benchmarks/separation_regions.py measures a trained one)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import re

import numpy as np
import pytest
import torch

from avrepro.data.media_clips import MediaClips, decode_clip, split_clips
from avrepro.media import probe_mp4, read_media_audio, read_mp4_frames, read_wav, write_mp4
from avrepro.tasks import get_task
from avrepro.tasks.separation import infer as sep_infer
from avrepro.tasks.separation.evaluate import chunk_at, chunk_frames, evaluate_model, model_masker
from avrepro.video.crop import crop_hw
from helpers import ROOT, trained
from helpers.trained import untrained_model_dir


@pytest.fixture(scope="module")
def sep(task_caches, tmp_path_factory):
    """The smoke test split, its raw clips by id, and an untrained binary model loaded as the verb
    loads it (with the smoke profile's eval settings)."""
    from avrepro.engine.infer import load_trained

    got = task_caches("separation")
    cfg = copy.deepcopy(got["cfg"]["separation"])
    model_dir = untrained_model_dir(
        "separation", cfg, "binary", tmp_path_factory.mktemp("sep_model") / "binary"
    )
    view = got["view"]
    raw = split_clips(view["manifest"], view["raw"], view["splits"] / "test.txt", 1000)
    model, run_cfg, _ = load_trained(
        get_task("separation"), model_dir, "cpu", params=ROOT / "params.yaml", profile="smoke"
    )
    return {
        "test": got["caches"]["test"],
        "raw": {c["clip_id"]: c for c in raw},
        "model_dir": model_dir,
        "model": model,
        "cfg": run_cfg,
    }


run_verb = functools.partial(trained.run_verb, "separate")


def mux(path, frames: np.ndarray, fps: int, audio: np.ndarray | None, rate: int = 16000):
    """An mp4 (H.264, AAC) of uint8 frames and optional float ``(C, N)`` audio."""
    write_mp4(path, frames, fps, audio=audio, audio_rate=rate if audio is not None else None)
    return path


def test_two_test_videos_give_the_evaluations_sdr(sep, capsys, tmp_path):
    with torch.inference_mode():
        _, rows, _ = evaluate_model(sep["model"], sep["cfg"], sep["test"], "binary", progress=False)
    row = next(r for r in rows if not r["skipped"])
    a, b = (sep["raw"][c] for c in row["clips"].split("+"))
    rc, summary, err = run_verb(
        capsys,
        a["video"],
        b["video"],
        "--audio",
        a["audio"],
        b["audio"],
        "-o",
        tmp_path,
        model_dir=sep["model_dir"],
    )
    assert rc == 0, err
    for key in ("sdr", "sir", "sar", "sdr_mixture"):
        assert summary["test_mixture"][key] == pytest.approx(row[key], abs=1e-4), key
    n = sep["test"].info(sep["test"].position(a["clip_id"]))["n_samples"]
    for name in (f"{a['clip_id']}_separated.wav", f"{b['clip_id']}_separated.wav", "mixture.wav"):
        audio, rate = read_wav(tmp_path / name)
        assert audio.shape == (1, n) and rate == sep["cfg"]["features"]["sample_rate"]
    assert [s["video"] for s in summary["sources"]] == [str(a["video"]), str(b["video"])]
    assert all(np.isfinite(s["sdr"]) for s in summary["sources"]) and np.isfinite(summary["sdr_mixture"])
    assert probe_mp4(tmp_path / "sound_map.mp4")["has_audio"]


def test_a_pair_is_scored_on_the_evaluations_longer_test_mixture(sep):
    """With ``eval.window`` twice the training window, the pair's test mixture is the evaluation's
    (the centred two windows, separated window by window), while the clip is tiled on one."""
    cfg = copy.deepcopy(sep["cfg"])
    window = cfg["audio"]["window"]
    cfg["eval"]["window"] = 2 * (window + 1) - 1
    with torch.inference_mode():
        _, rows, _ = evaluate_model(sep["model"], cfg, sep["test"], "binary", progress=False)
    row = next(r for r in rows if not r["skipped"])
    pair = [sep["raw"][c] for c in row["clips"].split("+")]
    clips = sep_infer.load_clips([c["video"] for c in pair], [c["audio"] for c in pair], cfg)
    with torch.inference_mode():
        result = sep_infer.separate_pair(sep["model"], cfg, clips, progress=False)
    for key in ("sdr", "sir", "sar", "sdr_mixture"):
        assert result["test_mixture"][key] == pytest.approx(row[key], abs=1e-4), key
    assert result["starts"] == sep_infer.tile_starts(clips.audio(0).shape[1], window)


def two_players(sep, tmp_path, fps: int = 10):
    """A video of two test clips side by side (left, right) with their sounds mixed (each / 2)."""
    ids = list(sep["raw"])[:2]
    frames = [read_mp4_frames(sep["raw"][c]["video"])[0] for c in ids]
    sounds = [read_wav(sep["raw"][c]["audio"])[0] for c in ids]
    t, n = min(len(f) for f in frames), min(s.shape[1] for s in sounds)
    video = np.concatenate([f[:t] for f in frames], axis=2)
    return mux(tmp_path / "duet.mp4", video, fps, sum(s[:, :n] for s in sounds) / 2), n / 16000


def test_one_video_writes_a_wav_per_region_and_the_sound_map(sep, capsys, tmp_path):
    duet, seconds = two_players(sep, tmp_path)
    rate = sep["cfg"]["features"]["sample_rate"]
    n = read_media_audio(duet)[0].shape[1] * rate // 16000
    for regions, count in (("auto", None), ("0,0,0.5,1;0.5,0,0.5,1", 2)):
        out = tmp_path / regions.replace(";", "_")
        rc, summary, err = run_verb(capsys, duet, "--regions", regions, "-o", out, model_dir=sep["model_dir"])
        assert rc == 0, err
        assert 1 <= len(summary["regions"]) <= 2 and (count is None or len(summary["regions"]) == count)
        for region in summary["regions"]:
            audio, got_rate = read_wav(region["wav"])
            assert got_rate == rate and abs(audio.shape[1] - n) <= 2
        info = probe_mp4(out / "sound_map.mp4")
        assert info["has_audio"] and info["width"] == 480 and abs(info["frames"] - round(seconds * 10)) <= 1
    assert summary["regions"][0]["box"] == [0.0, 0.0, 0.5, 1.0]


def test_any_size_frame_rate_length_and_stereo_sound(sep, capsys, tmp_path):
    frames = np.zeros((69, 72, 96, 3), np.uint8)  # 2.3 s at 30 fps, 96x72: a square moving right
    for i, frame in enumerate(frames):
        frame[20:50, i : i + 30] = (200, 120, 40)
    t = np.arange(int(2.3 * 44100)) / 44100
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)]).astype(
        np.float32
    )
    video = mux(tmp_path / "odd.mp4", frames, 30, stereo, rate=44100)
    rc, summary, err = run_verb(capsys, video, "-o", tmp_path / "out", model_dir=sep["model_dir"])
    assert rc == 0, err
    rate = sep["cfg"]["features"]["sample_rate"]
    assert summary["seconds"] == pytest.approx(2.3, abs=0.05)
    for region in summary["regions"]:
        audio, _ = read_wav(region["wav"])
        assert audio.shape[0] == 1 and abs(audio.shape[1] / rate - summary["seconds"]) < 1e-3
    info = probe_mp4(tmp_path / "out" / "sound_map.mp4")
    assert info["fps"] == pytest.approx(30) and (info["width"], info["height"]) == (480, 360)


def _one_clip(sep) -> tuple[dict, MediaClips, list[int]]:
    """The verb's settings, the first test clip decoded as the verb decodes it, its windows."""
    cfg = sep_infer.with_eval_defaults(sep["cfg"])
    clip = sep["raw"][list(sep["raw"])[0]]
    feats = cfg["features"]
    decoded = decode_clip(
        clip["video"], feats["sample_rate"], (feats["frame_width"], feats["frame_height"]), clip["audio"]
    )
    clips = MediaClips([decoded], feats["sample_rate"])
    return cfg, clips, sep_infer.tile_starts(clips.audio(0).shape[1], cfg["audio"]["window"])


def _region_sounds(model, cfg, clips, starts, regions, boxes, features: str) -> np.ndarray:
    """Each region's sound by the verb's region pass, with ``features`` masked or pooled."""
    pixels = sep_infer.pixel_pass(model, cfg, clips, starts, progress=False)
    size = crop_hw(cfg["frames"])
    masks = sep_infer.region_pixels(regions, boxes, size) if features == "masked" else None
    return np.concatenate(sep_infer.region_pass(model, cfg, clips, starts, pixels, regions, False, masks))


@pytest.mark.parametrize("features", ["masked", "pooled"])
def test_a_region_over_the_whole_frame_is_the_models_own_mask(sep, features):
    cfg, clips, starts = _one_clip(sep)
    model = sep["model"]
    with torch.inference_mode():
        grid = sep_infer.pixel_pass(model, cfg, clips, starts[:1], progress=False)["features"].shape[2:]
        whole = np.ones((1, *grid), dtype=bool)
        regions = _region_sounds(model, cfg, clips, starts, whole, None, features)
        chunk = chunk_at(clips, [(0,)] * len(starts), [[s] for s in starts], 0, cfg)
        masks, _ = model_masker(model, "binary", cfg, clips)(chunk)
    from avrepro.tasks.separation.spectral import apply_masks

    own = apply_masks(masks, chunk.mix_spec, cfg["audio"], cfg["audio"]["window"]).numpy()
    assert np.allclose(regions, own, atol=1e-5)


def test_a_masked_region_ignores_the_picture_outside_it(sep):
    """With the default region features, the left half's sound and visual vector are the same
    whatever the right half shows (from two pixels off the middle: the resize to the crop size
    blends neighbouring pixels); the right half's vector changes."""
    cfg, clips, starts = _one_clip(sep)
    model, halves = sep["model"], [(0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 0.5, 1.0)]
    noisy = clips.clips[0].frames.copy()
    right = noisy[:, :, noisy.shape[2] // 2 + 2 :]
    right[...] = np.random.default_rng(0).integers(0, 256, right.shape)
    other = MediaClips([dataclasses.replace(clips.clips[0], frames=noisy)], clips.sample_rate)
    with torch.inference_mode():
        grid = sep_infer.pixel_pass(model, cfg, clips, starts[:1], progress=False)["features"].shape[2:]
        regions = sep_infer.box_regions(halves, grid)
        before = _region_sounds(model, cfg, clips, starts, regions, halves, "masked")
        after = _region_sounds(model, cfg, other, starts, regions, halves, "masked")
        masks = sep_infer.region_pixels(regions, halves, crop_hw(cfg["frames"]))
        vectors = []
        for media in (clips, other):
            chunk = chunk_at(media, [(0,)], [[starts[0]]], 0, cfg)
            frames = chunk_frames(media, chunk, crop_hw(cfg["frames"]))
            vectors.append(sep_infer.masked_region_vectors(model, frames, masks)[0])
    assert np.allclose(before[:, 0], after[:, 0], atol=1e-6)
    assert torch.allclose(vectors[0][0], vectors[1][0]) and not torch.allclose(vectors[0][1], vectors[1][1])


def test_auto_regions_are_contiguous_where_the_claims_are_ambiguous():
    """Two players' claims on the left and right halves of a 4x8 map, and a column at the right
    player's edge whose claims lie halfway between: the column goes with its neighbours."""
    rng = np.random.default_rng(0)
    h, w, d = 4, 8, 6
    a, b = np.eye(d)[0], np.eye(d)[1]
    claims = np.where(np.arange(w)[None, :, None] < 4, a, b) + 0.01 * rng.standard_normal((h, w, d))
    claims[:, 4] = (a + b) / 2 + 0.01 * rng.standard_normal((h, d))
    pixels = {
        "energy": np.ones((1, h, w)),
        "weight": np.ones(1),
        "claims": claims.reshape(1, h * w, d),
    }
    regions = sep_infer.auto_regions(pixels, 2)
    assert regions.shape == (2, h, w)
    assert regions[0, :, :4].all() and regions[1, :, 4:].all()


def test_region_pixels_follow_the_boxes_and_the_auto_regions():
    grid = np.zeros((2, 4, 8), dtype=bool)
    grid[0, :, :3], grid[1, :, 3:] = True, True
    auto = sep_infer.region_pixels(grid, None, (32, 64)).numpy()
    assert auto.shape == (2, 32, 64) and auto[0, :, :24].all() and not auto[0, :, 24:].any()
    boxes = sep_infer.region_pixels(grid, [(0.0, 0.0, 0.25, 0.5), (0.5, 0.5, 0.001, 0.001)], (32, 64)).numpy()
    assert boxes[0, :16, :16].all() and boxes[0].sum() == 16 * 16
    assert (boxes[1] == auto[1]).all()  # narrower than a pixel: the region's positions instead


def test_windows_cover_the_clip_with_the_centre_window_among_them():
    for n, window in ((16537, 8191), (8191, 8191), (100000, 16383), (16384, 16383)):
        starts = sep_infer.tile_starts(n, window)
        assert max(0, (n - window) // 2) in starts
        assert starts[0] <= 0 < starts[0] + window and starts[-1] < n <= starts[-1] + window
        assert np.all(np.diff(starts) == window)
    pieces = [np.arange(6).reshape(3, 1, 2)]  # three windows of two samples, one channel
    assert sep_infer.stitch(pieces, [-1, 1, 3], 4).tolist() == [[1, 2, 3, 4]]
    assert sep_infer.demo_pairs(2) == [(0, 1)] and sep_infer.demo_pairs(3) == [(0, 1), (2, 0)]


def test_unusable_input_is_named(sep, capsys, tmp_path):
    frames = np.zeros((10, 32, 64, 3), np.uint8)
    tone = (0.3 * np.sin(np.arange(16000) / 5.0))[None].astype(np.float32)
    silent = mux(tmp_path / "silent.mp4", frames, 10, None)
    short = mux(tmp_path / "short.mp4", frames[:3], 10, tone[:, :4800])
    at_10, at_12 = mux(tmp_path / "at10.mp4", frames, 10, tone), mux(tmp_path / "at12.mp4", frames, 12, tone)
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    wav = sep["raw"][list(sep["raw"])[0]]["audio"]
    e = re.escape
    cases = [  # (arguments, what stderr says: a regular expression)
        ((silent,), e(f"{silent}: no audio stream")),
        # 0.3 s of sound, and the AAC encoder's padding
        (
            (short,),
            e(f"{short}: the sound lasts ")
            + r"0\.3\d s, "
            + e("shorter than one window of the model (0.74 s)"),
        ),
        ((notes,), e(f"{notes}: not a readable video")),
        ((wav,), e(f"{wav}: no video stream")),
        (
            (at_10, at_12),
            e(f"{at_10}, {at_12}: the videos have different frame rates [10.0, 12.0]: re-encode one"),
        ),
        (
            (at_10, "--regions", "0,0,2"),
            e("--regions: '0,0,2' is not a box x,y,w,h (fractions of the frame)"),
        ),
        ((at_10, "--regions", "0.5,0,0.6,1"), e("--regions: box '0.5,0,0.6,1' leaves the frame")),
        ((at_10, at_10, "--regions", "0,0,1,1"), e("--regions: for one video")),
        ((at_10, "--audio", wav, wav), e(f"{wav}, {wav}: --audio takes one wav per video (1), got 2")),
    ]
    for args, message in cases:
        rc, _, err = run_verb(capsys, *args, "-o", tmp_path / "out", model_dir=sep["model_dir"])
        assert rc == 1 and re.match("avrepro separate: error: " + message, err), (args, err)


def test_demo_pairs_test_clips_and_scores_them(sep, tmp_path):
    clips = list(sep["raw"].values())[:2]
    with torch.inference_mode():
        shown = get_task("separation").demo(sep["model"], sep["cfg"], clips, tmp_path, progress=False)
    (item,) = shown["items"]
    a, b = clips[0]["clip_id"], clips[1]["clip_id"]
    assert item["clip"] == f"{a}+{b}"
    assert item["files"] == [
        "pair0_mixture.wav",
        f"pair0_{a}_separated.wav",
        f"pair0_{b}_separated.wav",
        "pair0_sound_map.mp4",
    ]
    assert all((tmp_path / f).is_file() for f in item["files"])
    info = probe_mp4(tmp_path / "pair0_sound_map.mp4")
    assert info["has_audio"] and info["width"] == 2 * 480
    assert set(item["numbers"]) == {f"{k}_{n}" for k in ("sdr", "sir", "sar") for n in (1, 2)} | {
        "sdr_mixture"
    }
    assert set(shown["summary"]) == {"sdr", "sir", "sar", "sdr_mixture", "n_pairs"}
