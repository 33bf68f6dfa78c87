"""Training and validation window pairs of the binaural task, on a tiny in-memory cache."""

from __future__ import annotations

import numpy as np
import torch

from avrepro.tasks.binaural.data import frame_index
from avrepro.tasks.binaural.task import BinauralTask


def test_window_pairs(caches, cfg):
    train, val = caches
    sr, fps = train.sample_rate, train.fps
    task = BinauralTask()
    ds, vs = task.datasets(cfg, train, val, "full", seed=0)
    assert len(ds) == 3 * 2 and len(vs) == 2
    item = ds[1]
    assert item["audio"].shape == (2, 2, 10080) and item["frame"].shape == (2, 3, 32, 64)
    assert item["swap"].shape == (2,) and set(item["swap"].tolist()) <= {0.0, 1.0}
    assert item["rir"].shape == (2, 2, 5)
    rms = item["audio"].pow(2).mean(dim=(1, 2)).sqrt()
    torch.testing.assert_close(rms, torch.full((2,), 0.1), rtol=1e-3, atol=0)
    # the same example every time; another epoch draws other windows
    torch.testing.assert_close(ds[1]["audio"], item["audio"])
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["audio"], item["audio"])
    # two frames of the same clip within train.pair_seconds: find the windows by correlation
    clip = train.audio_float(1)
    starts = []
    for w in item["audio"]:
        corr = np.correlate(clip[0], w[0].numpy(), mode="valid")
        starts.append(int(np.argmax(corr)))
    assert abs(starts[0] - starts[1]) <= cfg["train"]["pair_seconds"] * sr
    centres = [frame_index((s + 5040) / sr, fps, 13) for s in starts]
    assert centres[0] != centres[1]
    assert "rir" not in task.datasets(cfg, train, val, "fusion", seed=0)[0][0]


def test_pair_augmentation(cfg, tiny_cache, tmp_path):
    """``shared``: an item's two frames get one crop and jitter (a static scene gives two equal
    frames); ``independent``: each frame its own (the official code)."""
    static = tiny_cache(tmp_path, n_clips=2, seed=2)
    static._frames = [np.repeat(f[:1], len(f), axis=0) for f in static._frames]
    task = BinauralTask()
    for mode, equal in (("shared", True), ("independent", False)):
        cfg["train"]["pair_augmentation"] = mode
        item = task.datasets(cfg, static, static, "geometry", seed=0)[0][0]
        assert torch.equal(item["frame"][0], item["frame"][1]) == equal, mode
