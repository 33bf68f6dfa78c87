"""A user's folder of videos with sound, as a phone or a camera leaves it: sub-folders, extensions
in any case, stereo sound at 44.1 kHz, 25 fps; plus a silent, a badly named and a too short one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avrepro.media import write_mp4

RATE, FPS = 44100, 25


def flashing_video(seconds: float, seed: int, size: tuple[int, int] = (96, 64)) -> tuple[np.ndarray, ...]:
    """Frames ``(T, H, W, 3)`` of a square that lights up with each click of the stereo sound
    ``(2, N)`` (random click times): what is seen and heard happens together."""
    rng = np.random.default_rng(seed)
    width, height = size
    n_frames, n_samples = int(round(seconds * FPS)), int(round(seconds * RATE))
    clicks = np.sort(rng.uniform(0, seconds - 0.2, size=int(3 * seconds)))
    frames = np.full((n_frames, height, width, 3), 30, np.uint8)
    audio = 0.01 * rng.standard_normal((2, n_samples))
    x0, y0 = rng.integers(0, width - 24), rng.integers(0, height - 24)
    for t in clicks:
        first = int(t * FPS)
        frames[first : first + 3, y0 : y0 + 24, x0 : x0 + 24] = (230, 200, 90)
        s = int(t * RATE)
        burst = np.sin(2 * np.pi * 600 * np.arange(2000) / RATE) * np.exp(-np.arange(2000) / 400)
        audio[:, s : s + 2000] += 0.5 * burst[: n_samples - s]
    return frames, audio.astype(np.float32)


def make_video_folder(root: str | Path, n_videos: int = 8, seconds: float = 4.0) -> Path:
    """``n_videos`` videos with sound under ``root`` (half in a sub-folder, one named ``.MOV``),
    ``silent.mp4`` (no sound), ``bad name.mp4`` (a space in the name) and ``short.mp4`` (1 s);
    returns ``root``."""
    root = Path(root)
    for k in range(n_videos):
        folder = root / ("holiday" if k % 2 else "")
        suffix = ".MOV" if k == 1 else ".mp4"
        frames, audio = flashing_video(seconds, seed=k)
        write_mp4(folder / f"clip{k:02d}{suffix}", frames, FPS, audio=audio, audio_rate=RATE)
    frames, audio = flashing_video(seconds, seed=99)
    write_mp4(root / "silent.mp4", frames, FPS)
    write_mp4(root / "bad name.mp4", frames, FPS, audio=audio, audio_rate=RATE)
    frames, audio = flashing_video(1.0, seed=98)
    write_mp4(root / "short.mp4", frames, FPS, audio=audio, audio_rate=RATE)
    return root
