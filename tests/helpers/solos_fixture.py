"""Solo performances as MUSIC's videos show them, in miniature: one player per video, an instrument
class per pitch range and colour, notes heard as a harmonic tone and seen as the player lighting up.
Stereo sound at 44.1 kHz, 25 fps, so every conversion resamples."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avrepro.media import write_mp4

RATE, FPS = 44100, 25
CLASSES = {  # class -> (lowest f0 in Hz, colour)
    "violin": (440.0, (200, 60, 40)),
    "flute": (880.0, (60, 200, 220)),
    "cello": (110.0, (120, 80, 200)),
}


def solo_video(
    cls: str, seconds: float, seed: int, size: tuple[int, int] = (96, 64)
) -> tuple[np.ndarray, ...]:
    """Frames ``(T, H, W, 3)`` and stereo sound ``(2, N)`` of one ``cls`` player: notes of random
    pitch (an octave above the class's lowest f0) and length, the player brighter while one sounds."""
    rng = np.random.default_rng(seed)
    f_low, colour = CLASSES[cls]
    width, height = size
    n_frames, n_samples = int(round(seconds * FPS)), int(round(seconds * RATE))
    frames = np.full((n_frames, height, width, 3), 25, np.uint8)
    audio = 0.003 * rng.standard_normal((2, n_samples))
    x0, y0 = int(rng.integers(0, width - 28)), int(rng.integers(0, height - 28))
    t = 0.0
    while t < seconds - 0.1:
        length = float(rng.uniform(0.15, 0.5))
        f0 = f_low * 2 ** (rng.integers(0, 12) / 12)
        s, e = int(t * RATE), min(n_samples, int((t + length) * RATE))
        tt = np.arange(e - s) / RATE
        tone = sum(np.sin(2 * np.pi * k * f0 * tt) / k for k in range(1, 5))
        audio[:, s:e] += 0.2 * tone * np.minimum(1, 20 * tt) * np.exp(-2 * tt)
        frames[int(t * FPS) : int((t + length) * FPS), y0 : y0 + 28, x0 : x0 + 28] = colour
        t += length + float(rng.uniform(0.0, 0.1))
    return frames, audio.astype(np.float32)


def make_solo_folder(root: str | Path, per_class: int = 4, seconds: float = 4.0) -> Path:
    """``root/<class>/<class><k>.mp4`` for every class of :data:`CLASSES` (``per_class`` videos
    each), and ``loose.mp4`` directly in ``root`` (no instrument sub-folder); returns ``root``."""
    root = Path(root)
    for c, cls in enumerate(CLASSES):
        for k in range(per_class):
            frames, audio = solo_video(cls, seconds, seed=10 * c + k)
            write_mp4(root / cls / f"{cls}{k}.mp4", frames, FPS, audio=audio, audio_rate=RATE)
    frames, audio = solo_video("violin", seconds, seed=99)
    write_mp4(root / "loose.mp4", frames, FPS, audio=audio, audio_rate=RATE)
    return root
