"""A tiny FAIR-Play in the exact official layout: three tarballs and .h5 split files whose
``audio`` datasets hold absolute wav paths from another machine."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from avrepro.media import write_mp4, write_wav

FOREIGN_ROOT = "/private/home/someone/FAIR-Play/binaural_audios"


def clip_ids(n: int) -> list[str]:
    return [f"{i:06d}" for i in range(1, n + 1)]


def make_fairplay(
    root: str | Path,
    n_clips: int = 8,
    seconds: float = 1.5,
    fps: int = 30,
    size: tuple[int, int] = (96, 48),
    rate: int = 48000,
    splits: dict[str, dict[str, list[int]]] | None = None,
) -> Path:
    """Write ``<root>/src/{videos,binaural_audios,splits}`` and ``<root>/www/*.tar.gz``; returns www."""
    import h5py

    root = Path(root)
    src, www = root / "src", root / "www"
    rng = np.random.default_rng(0)
    ids = clip_ids(n_clips)
    n_frames, n_samples = int(round(seconds * fps)), int(round(seconds * rate))
    t = np.arange(n_samples) / rate
    width, height = size
    for k, cid in enumerate(ids):
        # a bright block whose horizontal position matches the sound's left/right balance
        pan = (k + 0.5) / n_clips
        frames = np.full((n_frames, height, width, 3), 40, np.uint8)
        x0 = int(pan * (width - 16))
        for f in range(n_frames):
            frames[f, height // 4 : height // 4 + 16, x0 : x0 + 16] = (200, 80 + f % 100, 60)
        write_mp4(src / "videos" / f"{cid}.mp4", frames, fps)
        tone = 0.3 * np.sin(2 * np.pi * (220 + 40 * k) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
        noise = 0.02 * rng.standard_normal(n_samples)
        audio = np.stack([(1 - pan) * tone + noise, pan * tone + noise]).astype(np.float32)
        write_wav(src / "binaural_audios" / f"{cid}.wav", audio, rate)
    if splits is None:
        n_test = max(1, n_clips // 4)
        splits = {
            "split1": {
                "train": list(range(1, n_clips - 2 * n_test + 1)),
                "val": list(range(n_clips - 2 * n_test + 1, n_clips - n_test + 1)),
                "test": list(range(n_clips - n_test + 1, n_clips + 1)),
            }
        }
    for name, parts in splits.items():
        for part, numbers in parts.items():
            path = src / "splits" / name / f"{part}.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w") as h5:
                h5.create_dataset(
                    "audio", data=np.array([f"{FOREIGN_ROOT}/{i:06d}.wav".encode() for i in numbers])
                )
    www.mkdir(parents=True, exist_ok=True)
    for archive, folder in (
        ("videos.tar.gz", "videos"),
        ("audios.tar.gz", "binaural_audios"),
        ("splits.tar.gz", "splits"),
    ):
        with tarfile.open(www / archive, "w:gz") as tf:
            tf.add(src / folder, arcname=folder)
    return www


def fairplay_cfg(base_url: str, **overrides) -> dict:
    cfg = {
        "base_url": base_url,
        "archives": ["videos.tar.gz", "audios.tar.gz", "splits.tar.gz"],
        "sha256": {},
        "md5": {},
        "sample_rate": 16000,
        "fps": 10,
        "frame_width": 480,
        "frame_height": 240,
        "max_clips": 0,
        "keep_archives": True,
    }
    cfg.update(overrides)
    return cfg
