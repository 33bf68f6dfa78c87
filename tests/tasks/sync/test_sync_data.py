"""Sync task data: aligned vs shifted examples, the shortcut guard, determinism (on the toy
clips of :mod:`sync_toy`, whose sprite flashes on every note onset)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sync_toy import FPS, SAMPLE, TOY_CFG, ToyCache

from avrepro.tasks.sync.data import (
    SyncExamples,
    allowed_shifts,
    draw_pair,
    eval_pairs,
    geometry,
    make_example,
)


def onset_track(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """Per-frame energy of an audio window (which frames hold a burst)."""
    return np.square(audio[: n_frames * (len(audio) // n_frames)]).reshape(n_frames, -1).mean(axis=1)


def flash_track(frames: torch.Tensor) -> np.ndarray:
    """Per-frame brightness of an example's frames ``(3, T, H, W)``."""
    return frames.mean(dim=(0, 2, 3)).numpy()


def in_sync(frames: torch.Tensor, audio: np.ndarray) -> bool:
    """Oracle: do the audio's bursts fall on the flashing frames?"""
    a, v = onset_track(audio, frames.shape[1]), flash_track(frames)
    return bool(np.corrcoef(a, v)[0, 1] > 0.9)


def test_shifted_audio_flips_the_label():
    cache = ToyCache(n_clips=4)
    ds = SyncExamples(cache, TOY_CFG, seed=3, per_clip=6, train=False)
    for idx in range(len(ds)):
        ex = ds[idx]
        assert ex["label"].tolist() == [0.0, 1.0]
        aligned, shifted = ex["audio"].numpy()
        # the track labelled 0 is the one whose bursts fall on the flashes, the other is not
        assert in_sync(ex["frames"], aligned)
        assert not in_sync(ex["frames"], shifted)
        shift_frames = round(float(ex["shift"][1]) * FPS)
        assert abs(shift_frames) >= 4  # max_overlap 0.6 of 10 frames -> at least 4 frames apart
        # the same pair with the shift undone is in sync again: the label follows the shift
        undone = make_example(
            cache, idx % len(cache), SAMPLE, ds.geo[idx % len(cache)], (int(ex["start"]), int(ex["start"]))
        )
        assert in_sync(undone["frames"], undone["audio"][1].numpy())


def test_pairs_respect_shift_range_and_overlap():
    cache = ToyCache(n_clips=1)
    geo = geometry(SAMPLE, cache, 0)
    assert geo.frames == 10 and geo.samples == 4000 and geo.max_start == 20
    assert geo.shifts == tuple(range(4, 11))  # 0.3-1.0 s, overlap <= 60 % -> |shift| >= 4 frames
    rng = np.random.default_rng(0)
    for _ in range(500):
        v, o = draw_pair(geo, rng)
        assert 0 <= v <= geo.max_start and 0 <= o <= geo.max_start
        overlap = max(0, geo.frames - abs(v - o)) / geo.frames
        assert abs(v - o) in geo.shifts and overlap <= SAMPLE["max_overlap"]
    assert allowed_shifts({**SAMPLE, "max_overlap": 0.0}, FPS, 20) == (10,)


def test_aligned_and_shifted_audio_starts_share_one_distribution():
    """The shortcut guard: audio alone must not reveal the label (no start-position cue)."""
    cache = ToyCache(n_clips=1)
    geo = geometry(SAMPLE, cache, 0)
    rng = np.random.default_rng(1)
    pairs = np.array([draw_pair(geo, rng) for _ in range(40000)])
    bins = np.arange(geo.max_start + 2)
    aligned = np.histogram(pairs[:, 0], bins)[0] / len(pairs)
    shifted = np.histogram(pairs[:, 1], bins)[0] / len(pairs)
    assert np.abs(aligned - shifted).max() < 0.012
    assert aligned.min() > 0  # every start of the clip is used (randomised starts)


def test_examples_are_a_function_of_seed_epoch_index():
    cache = ToyCache(n_clips=2)
    a = SyncExamples(cache, TOY_CFG, seed=5, per_clip=3)
    b = SyncExamples(cache, TOY_CFG, seed=5, per_clip=3)
    for k in ("frames", "audio", "shift"):
        assert torch.equal(a[4][k], b[4][k])
    a.set_epoch(1)
    assert not torch.equal(a[4]["audio"], b[4]["audio"]) or not torch.equal(a[4]["frames"], b[4]["frames"])
    fixed = SyncExamples(cache, TOY_CFG, seed=5, per_clip=3, fixed=True)
    first = fixed[2]["audio"].clone()
    fixed.set_epoch(7)
    assert torch.equal(fixed[2]["audio"], first)
    pairs = eval_pairs(cache, 1, SAMPLE, 4, 0)
    assert pairs == eval_pairs(cache, 1, SAMPLE, 4, 0) and pairs != eval_pairs(cache, 1, SAMPLE, 4, 1)
    # each window pair is judged both ways: every audio window is once aligned, once shifted
    assert len(pairs) == 8 and pairs[4:] == [(o, v) for v, o in pairs[:4]]
    assert sorted(v for v, _ in pairs) == sorted(o for _, o in pairs)
    assert len(a) == 6 and a[0]["frames"].shape == (3, 10, 16, 32) and a[0]["audio"].shape == (2, 4000)


def test_clip_too_short_for_a_shift_is_named():
    cache = ToyCache(n_clips=1, seconds=1.2)
    with pytest.raises(ValueError, match="toy000"):
        SyncExamples(cache, TOY_CFG, seed=0, per_clip=1)
