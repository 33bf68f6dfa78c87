"""The same frames always encode to the same mp4 bytes, whatever the process did before."""

from __future__ import annotations

import hashlib

import numpy as np

from avrepro.media import read_mp4_frames, write_mp4


def moving_texture(n_frames: int = 15, height: int = 48, width: int = 96) -> np.ndarray:
    """A smooth random texture drifting right with a bright square crossing it (motion for x264's
    motion search and lookahead)."""
    rng = np.random.default_rng(0)
    base = np.cumsum(np.cumsum(rng.normal(size=(height, 2 * width, 3)), 0), 1)
    base = (255 * (base - base.min()) / np.ptp(base)).astype(np.uint8)
    frames = np.stack([base[:, 3 * t : 3 * t + width] for t in range(n_frames)])
    for t, frame in enumerate(frames):
        frame[10:26, 4 * t : 4 * t + 16] = 240
    return frames


def test_the_same_frames_give_the_same_bytes_every_time(tmp_path):
    # Between encodings the process decodes the last file, so each encoding finds other memory:
    # with x264's AVX-512 kernels this loop gave 10 to 20 different files (media.x264_params)
    frames, path = moving_texture(), tmp_path / "clip.mp4"
    digests = set()
    for _ in range(200):
        write_mp4(path, frames, fps=10)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
        read_mp4_frames(path)
    assert len(digests) == 1
