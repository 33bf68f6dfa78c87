"""Fixtures of the binaural tests: a tiny in-memory stand-in for a feature cache, with RIRs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avrepro.media import write_wav
from helpers.configs import task_config
from helpers.memory_cache import InMemoryCache

SR, FPS, SECONDS = 16000, 10.0, 1.3
SMALL = {
    "model": {"ngf": 4, "visual_channels": 2, "coherence_ngf": 4},
    "rir": {"seconds": 0.1, "bands_hz": [0, 2000, 8000]},
    "train": {"windows_per_clip": 2, "pair_seconds": 0.5, "geometry": {"margin": 0.05}},
    "eval": {"batch_windows": 4},
}
"""What these tests change in the smoke profile's section: small nets, RIR targets (2, 2, 5)."""


class TinyCache(InMemoryCache):
    """The subset of :class:`FeatureCache` the task reads, held in memory: odd clips have their
    source (a bright sprite, the louder ear) on the left; one or two simulated RIR pairs each."""

    def __init__(self, root: Path, n_clips: int = 3, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.raw_dir, self.cache_dir = root, root / "cache"
        self.sample_rate, self.fps = SR, FPS
        self.clip_ids = [f"c{i:03d}" for i in range(n_clips)]
        n, n_frames = int(SECONDS * SR), int(SECONDS * FPS)
        self._audio, self._frames, self._meta = [], [], []
        (root / "rirs").mkdir(parents=True, exist_ok=True)
        for i, cid in enumerate(self.clip_ids):
            mono = rng.standard_normal(n) * np.linspace(0.2, 1.0, n)
            gain_l = 0.3 + 0.5 * (i % 2)  # odd clips: source on the left
            stereo = np.stack([gain_l * mono, (1.1 - gain_l) * mono]) * 0.3
            self._audio.append(np.clip(np.rint(stereo * 32767), -32767, 32767).astype(np.int16))
            frames = np.zeros((n_frames, 34, 68, 3), dtype=np.uint8)
            x0 = 5 if i % 2 else 45
            frames[:, 10:25, x0 : x0 + 15] = 255  # a bright sprite on the source's side
            frames[:, :, :, 1] = np.arange(n_frames, dtype=np.uint8)[:, None, None] * 10
            self._frames.append(frames)
            rir = np.zeros((2 * (1 + i % 2), 1600), dtype=np.float32)  # 1 or 2 sources
            rir[0::2, 40 + 10 * i] = gain_l
            rir[1::2, 42 + 10 * i] = 1.1 - gain_l
            rir[:, 100:] = rng.standard_normal((rir.shape[0], 1500)) * 0.01 * np.exp(-np.arange(1500) / 300)
            write_wav(root / "rirs" / f"{cid}.wav", rir, SR, subtype="FLOAT")
            self._meta.append({"rir": f"rirs/{cid}.wav"})


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> tuple[TinyCache, TinyCache]:
    """Three training clips and two other clips (validation or test)."""
    root = tmp_path_factory.mktemp("binaural_task")
    return TinyCache(root / "a", seed=0), TinyCache(root / "b", n_clips=2, seed=1)


@pytest.fixture
def tiny_cache():
    """``tiny_cache(root, n_clips, seed)`` -> a fresh :class:`TinyCache`."""
    return TinyCache


@pytest.fixture
def cfg() -> dict:
    """The smoke profile's binaural section with :data:`SMALL` merged in (a fresh copy)."""
    return task_config("binaural", SMALL)
