"""360 recordings in miniature: equirectangular frames with a player that lights up with each
click of its sound, and first-order ambisonics (ambiX: ACN W, Y, Z, X, SN3D) of that sound arriving
from the player's direction over a faint diffuse noise. Also YouTube's equi-angular cubemap (EAC)
of a frame, drawn with FFmpeg's ``v360`` layout independently of the pipeline's converter, and a
"YouTube-360 upload" (H.264 and 4-channel PCM in one file)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from avrepro.media import write_mp4, write_wav
from avrepro.video.viewpoints import equirect_pixel

RATE, FPS = 48000, 25
SIZE = (128, 64)  # equirect width x height


def scene_360(
    seconds: float, seed: int, size: tuple[int, int] = SIZE
) -> tuple[np.ndarray, np.ndarray, float]:
    """Frames ``(T, H, W, 3)``, FOA ``(4, N)`` and the player's azimuth in degrees."""
    rng = np.random.default_rng(seed)
    width, height = size
    az, el = float(rng.uniform(-180, 180)), float(rng.uniform(-20, 20))
    n_frames, n = int(round(seconds * FPS)), int(round(seconds * RATE))
    frames = np.full((n_frames, height, width, 3), 40, np.uint8)
    frames[:, height // 2 :] = (60, 90, 50)  # ground
    col, row = equirect_pixel(az, el, width, height)
    mono = np.zeros(n)
    for t in np.sort(rng.uniform(0, seconds - 0.2, size=int(4 * seconds))):
        s = int(t * RATE)
        burst = np.sin(2 * np.pi * 700 * np.arange(2400) / RATE) * np.exp(-np.arange(2400) / 500)
        mono[s : s + 2400] += 0.4 * burst[: n - s]
        first = int(t * FPS)
        for dc in range(-4, 5):  # the player, wrapping around the frame's edge
            frames[first : first + 3, max(0, row - 5) : row + 5, (col + dc) % width] = (240, 60, 40)
    a, e = math.radians(az), math.radians(el)
    foa = np.stack(
        [mono, mono * math.sin(a) * math.cos(e), mono * math.sin(e), mono * math.cos(a) * math.cos(e)]
    )
    foa += 0.002 * rng.standard_normal((4, n)) * np.array([[1.0], [0.58], [0.58], [0.58]])
    return frames, foa.astype(np.float32), az


def eac_frame(equirect: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The EAC frame (``size`` = width x height, 16:9) of an equirect frame, nearest pixel, from
    FFmpeg's inverse mapping (EAC pixel -> direction): top row left, front, right; bottom row
    down, back, up, rotated 270, 90, 270 degrees; 2 pixels of padding."""
    width, height = size
    u = np.arange(width)[None, :] / width * np.ones((height, 1))
    v = np.arange(height)[:, None] / height * np.ones((1, width))
    u_pad, v_pad = 2 / width, 2 / height
    uf = 3 * (u - u_pad) / (1 - 2 * u_pad)
    u_face = np.clip(np.floor(uf), 0, 2)
    uf = np.clip(uf - u_face, 0, 1) - 0.5
    v_face = np.floor(v * 2)
    vf = np.clip((v - v_pad - 0.5 * v_face) / (0.5 - 2 * v_pad), 0, 1) - 0.5
    uf, vf = np.tan(np.pi / 2 * uf), np.tan(np.pi / 2 * vf)
    face = (u_face + 3 * v_face).astype(int)
    one = np.ones_like(uf)
    xyz = {  # FFmpeg's eac_to_xyz, face by face (x right, y up, z backward)
        0: (-one, -vf, -uf),
        1: (uf, -vf, -one),
        2: (one, -vf, uf),
        3: (-vf, -one, uf),
        4: (-vf, uf, one),
        5: (-vf, one, -uf),
    }
    x, y, z = (np.choose(face, [xyz[k][axis] for k in range(6)]) for axis in range(3))
    az = np.degrees(np.arctan2(-x, -z))
    el = np.degrees(np.arctan2(y, np.hypot(x, z)))
    h, w = equirect.shape[:2]
    cols = np.floor(np.mod(0.5 - az / 360.0, 1.0) * w).astype(int) % w
    rows = np.clip(np.floor((0.5 - el / 180.0) * h), 0, h - 1).astype(int)
    return equirect[rows, cols]


def write_foa_video(
    path: str | Path, frames: np.ndarray, foa: np.ndarray, rate: int = RATE, fps: int = FPS
) -> Path:
    """A 'YouTube-360 upload': H.264 frames at ``fps`` and 4-channel ambiX PCM in one file."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    with av.open(str(path), "w", format="mov") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = c.add_stream("pcm_s16le", rate=rate)
        a.layout = "quad"
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            c.mux(v.encode(frame))
        c.mux(v.encode())
        pcm = (np.clip(foa, -1, 1) * 32767).astype(np.int16)
        for s0 in range(0, pcm.shape[1], 1024):
            chunk = np.ascontiguousarray(pcm[:, s0 : s0 + 1024].T).reshape(1, -1)
            af = av.AudioFrame.from_ndarray(chunk, format="s16", layout="quad")
            af.sample_rate, af.pts = rate, s0
            c.mux(a.encode(af))
        c.mux(a.encode())
    return path


def make_360_folder(root: str | Path, ids: list[str], seconds: float = 2.0) -> dict[str, float]:
    """``videos/<id>.mp4`` (equirect) and ``foa/<id>.wav`` (ambiX, 48 kHz) for each of ``ids``;
    ``cube`` in EAC (converted), ``stereo`` with 2-channel sound and ``flat`` a square video (both
    listed as unusable). Returns each clip's player azimuth."""
    root = Path(root)
    azimuths = {}
    for k, clip in enumerate([*ids, "cube", "stereo", "flat"]):
        frames, foa, azimuths[clip] = scene_360(seconds, seed=k)
        if clip == "cube":
            frames = np.stack([eac_frame(f, (128, 72)) for f in frames])
        if clip == "flat":
            frames = frames[:, :, 32:96]
        write_mp4(root / "videos" / f"{clip}.mp4", frames, FPS)
        write_wav(root / "foa" / f"{clip}.wav", foa[:2] if clip == "stereo" else foa, RATE)
    return azimuths
