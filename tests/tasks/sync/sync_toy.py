"""What the sync tests share: a duck-typed cache of toy clips (``ToyCache``) and the toy
configuration, derived from the smoke profile through the schema (``TOY_CFG``)."""

from __future__ import annotations

import numpy as np

from helpers.configs import task_config
from helpers.memory_cache import InMemoryCache

FPS, RATE = 10.0, 4000
# a tiny net: CAM at 1/4 of a 32 x 16 frame, half the frames in time
TINY = {
    "audio_widths": [4, 8, 8],
    "audio_kernels": [9, 5],
    "audio_strides": [4, 2, 2],
    "video_widths": [4, 8, 8, 8],
    "conv1_kernel": [3, 3, 3],
    "time_strides": [2, 1, 1, 1, 1],
    "space_strides": [2, 1, 1, 1, 1],
    "fusion_audio": 4,
    "fusion_hidden": 8,
    "blocks": [1, 1, 1],
}
VARIANTS = ["fused", "audio_only", "video_only"]
TOY_CFG = task_config(
    "sync",
    {
        "features": {"sample_rate": RATE, "frame_width": 32, "frame_height": 16},
        "sample": {"seconds": 1.0, "shift_seconds": [0.3, 1.0], "max_overlap": 0.6, "rms": 0.1, "flip": True},
        "model": TINY,
        # SGD with grad clip and weight decay as the smoke profile; a constant lr over the 2 epochs
        "train": {
            "epochs": 2,
            "examples_per_clip": 2,
            "lr": 0.01,
            "grad_clip": 5.0,
            "weight_decay": 1e-5,
            "lr_decay_every": 10,
            "lr_milestones": [],
            "checkpoint_every": 100,
            "num_workers": 0,
            "threads": 1,
            "amp": "none",
            "log_every": 10,
        },
        "eval": {"pairs_per_clip": 2, "batch_size": 4, "seed": 0},
        "variants": VARIANTS,
        "baselines": ["chance"],
    },
)
SAMPLE = TOY_CFG["sample"]


class ToyCache(InMemoryCache):
    """Duck-typed FeatureCache: clips of ``seconds`` with one flashing square per clip.

    Every note onset is a decaying noise burst in the audio and, on its frame, a white square
    (grey otherwise); onsets fall on random frames (each with probability 0.4), so two different
    windows of a clip practically never share one onset pattern.
    """

    def __init__(
        self, n_clips: int = 3, seconds: float = 3.0, size: tuple[int, int] = (32, 16), seed: int = 0
    ):
        rng = np.random.default_rng(seed)
        self.clip_ids = [f"toy{i:03d}" for i in range(n_clips)]
        self.frame_size = size
        self.sample_rate, self.fps = RATE, FPS
        w, h = size
        n_frames, n = int(seconds * FPS), int(seconds * RATE)
        spf = int(RATE / FPS)
        self._audio, self._frames, self._meta, self.onsets = [], [], [], []
        for _ in range(n_clips):
            onsets = np.flatnonzero(rng.random(n_frames) < 0.4)
            audio = rng.standard_normal(n) * 0.002
            frames = np.full((n_frames, h, w, 3), 30, dtype=np.uint8)
            box = [w // 4, h // 4, w // 4 + w // 4, h // 4 + h // 2]
            frames[:, box[1] : box[3], box[0] : box[2]] = 90
            for f in onsets:
                burst = rng.standard_normal(spf) * np.exp(-np.arange(spf) / (spf / 6))
                audio[f * spf : (f + 1) * spf] += 0.5 * burst
                frames[f, box[1] : box[3], box[0] : box[2]] = 255
            self._audio.append(np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)[None])
            self._frames.append(frames)
            scale = 4  # meta boxes are given on a frame 4x the cached size
            self._meta.append(
                {
                    "frame_size": [w * scale, h * scale],
                    "sources": [{"class": "toy", "boxes": [[v * scale for v in box]] * n_frames}],
                }
            )
            self.onsets.append(onsets)
