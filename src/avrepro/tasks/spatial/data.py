"""Examples of the spatial task from the feature cache (equirect frames + FOA).

An example is one clip seen from K viewpoints: K perspective crops of the frames around an audio
window's centre, the window's FOA, and the K rotations that turn it toward each crop's centre
(as :func:`avrepro.audio.ambisonics.rotate_toward`), so that what is in the middle of a crop is
in front of the rotated microphone. Every example is a pure function of ``(seed, epoch, index)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from avrepro.audio.ambisonics import rotation_matrix
from avrepro.data.cache import FeatureCache
from avrepro.video.crop import crop_hw
from avrepro.video.viewpoints import Viewpoint, perspective_crops, sample_viewpoints


def window_samples(cfg: dict, rate: int) -> int:
    """Samples in one audio window (``audio.window_seconds``)."""
    return int(round(cfg["audio"]["window_seconds"] * rate))


def draw_viewpoints(
    rng: np.random.Generator, cfg: dict, k: int, foa: np.ndarray | None = None
) -> list[Viewpoint]:
    """``k`` viewpoints with the ranges of ``cfg["viewpoints"]``: centres uniform, or, with
    ``center: audio_power`` and the window ``foa`` given, drawn where the sound is (see
    :func:`audio_power_centres`). Evaluation always passes no ``foa``: centres chosen from the
    true audio would tell an audio-only model which rotation is the aligned one."""
    v = cfg["viewpoints"]
    vps = sample_viewpoints(
        rng, k, v["yaw_deg"], v["pitch_deg"], v["hfov_deg"], v["aspect"], v["min_separation_deg"]
    )
    if foa is None or v.get("center", "uniform") == "uniform":
        return vps
    centres = audio_power_centres(
        rng, foa, k, v["yaw_deg"], v["pitch_deg"], v["min_separation_deg"], float(v["power_alpha"])
    )
    return [
        Viewpoint(yaw, pitch, vp.hfov_deg, vp.vfov_deg) for (yaw, pitch), vp in zip(centres, vps, strict=True)
    ]


def audio_power_centres(
    rng: np.random.Generator,
    foa: np.ndarray,
    k: int,
    yaw_deg,
    pitch_deg,
    min_separation_deg: float,
    alpha: float,
    step_deg: float = 10.0,
) -> list[tuple[float, float]]:
    """``k`` crop centres drawn on a grid of directions with probability proportional to the
    power of a cardioid beam ``(W + u.(X, Y, Z)) / 2`` steered there, to the power ``alpha`` (the
    AVSA code's ``ambi_pow`` crop placement), each at least ``min_separation_deg`` from the
    previous ones (uniform over the remaining grid when no power is left)."""
    yaws = np.arange(yaw_deg[0] + step_deg / 2, yaw_deg[1], step_deg)
    pitches = (
        np.arange(pitch_deg[0], pitch_deg[1] + 1e-9, step_deg)
        if pitch_deg[1] > pitch_deg[0]
        else np.array([pitch_deg[0]])
    )
    yy, pp = np.meshgrid(np.radians(yaws), np.radians(pitches))
    yy, pp = yy.ravel(), pp.ravel()
    # beam weights on channels W, Y, Z, X; power = g^T C g with the window's 4x4 covariance
    g = 0.5 * np.stack([np.ones_like(yy), np.sin(yy) * np.cos(pp), np.sin(pp), np.cos(yy) * np.cos(pp)], 1)
    x = np.asarray(foa, dtype=np.float64)
    power = np.einsum("gi,ij,gj->g", g, x @ x.T / x.shape[1], g)
    weight = np.maximum(power, 0) ** alpha
    unit = np.stack([np.cos(pp) * np.cos(yy), np.cos(pp) * np.sin(yy), np.sin(pp)], 1)
    allowed = np.ones(len(yy), bool)
    out = []
    for _ in range(k):
        w = weight * allowed
        p = w / w.sum() if w.sum() > 0 else allowed / max(1, allowed.sum())
        if not np.isfinite(p).all() or p.sum() <= 0:
            p = np.full(len(yy), 1.0 / len(yy))
        q = int(rng.choice(len(yy), p=p))
        out.append((float(np.degrees(yy[q])), float(np.degrees(pp[q]))))
        allowed &= unit @ unit[q] < np.cos(np.radians(min_separation_deg))
    return out


def frame_indices(center_s: float, fps: float, n_available: int, count: int) -> np.ndarray:
    """``count`` consecutive frame indices centred on ``center_s`` (clamped to the clip)."""
    first = int(round(center_s * fps - (count - 1) / 2))
    return np.clip(np.arange(first, first + count), 0, n_available - 1)


def clip_window(cache: FeatureCache, i: int, start: int, n: int) -> np.ndarray:
    """FOA ``(4, n)`` float32 of clip ``i`` from sample ``start`` (zero-padded past the end)."""
    audio = cache.audio(i)
    if audio.shape[0] != 4:
        raise ValueError(
            f"{cache.cache_dir}: clip {cache.clip_ids[i]} has {audio.shape[0]} audio "
            "channels; the spatial task needs 4-channel ambiX FOA (a dataset whose layout "
            "reads foa/, e.g. synthetic_foa)"
        )
    out = np.zeros((4, n), dtype=np.float32)
    piece = audio[:, start : start + n]
    out[:, : piece.shape[1]] = piece.astype(np.float32) / 32767.0
    return out


def view_rotations(viewpoints: list[Viewpoint], yaw_offset_deg: float = 0.0) -> np.ndarray:
    """``(K, 3, 3)`` rotations of the (front, left, up) dipoles that turn a window by
    ``yaw_offset_deg`` (misalignment; 0 = aligned), then toward each viewpoint's centre, as
    :func:`avrepro.audio.ambisonics.rotate_toward` does (the model applies them to the STFT)."""
    turn = rotation_matrix(yaw_offset_deg, 0.0)
    turns = [rotation_matrix(vp.yaw_deg, vp.pitch_deg).T @ turn for vp in viewpoints]
    return np.stack(turns).astype(np.float32)


def render_crops(frames: np.ndarray, viewpoints: list[Viewpoint], cfg: dict) -> torch.Tensor:
    """``(K, T, 3, h, w)`` crops in [0, 1] of equirect ``frames`` ``(T, H, W, 3)``."""
    return perspective_crops(frames, viewpoints, crop_hw(cfg["frames"]))


def jitter(crops: torch.Tensor, rng: np.random.Generator, limits) -> torch.Tensor:
    """Brightness and saturation scaled by factors uniform in ``limits`` (one draw per crop)."""
    k = crops.shape[0]
    bright = torch.from_numpy(rng.uniform(*limits, size=k).astype(np.float32)).view(k, 1, 1, 1, 1)
    sat = torch.from_numpy(rng.uniform(*limits, size=k).astype(np.float32)).view(k, 1, 1, 1, 1)
    x = crops * bright
    gray = 0.299 * x[:, :, :1] + 0.587 * x[:, :, 1:2] + 0.114 * x[:, :, 2:3]
    return (gray + (x - gray) * sat).clamp(0, 1)


class SpatialExamples(Dataset):
    """Clips seen from ``views`` viewpoints each.

    Item: ``{"crops": (K, T, 3, h, w) float32 in [0, 1], "foa": (4, n) float32, "rot": (K, 3, 3)}``
    (``rot`` turns the window toward each crop's centre, see :func:`view_rotations`).
    ``samples_per_clip`` examples per clip and epoch (random window, viewpoints, mirror and
    colour jitter when ``train``); ``fixed=True`` keeps the draws of epoch 0 (validation).
    A mirror flips the equirect frames left-right and negates Y, which maps azimuth ``az`` to
    ``-az`` in both modalities.
    """

    def __init__(
        self,
        cache: FeatureCache,
        cfg: dict,
        seed: int,
        views: int,
        samples_per_clip: int = 1,
        train: bool = True,
        fixed: bool = False,
    ):
        self.cache, self.cfg, self.seed, self.views = cache, cfg, seed, views
        self.samples_per_clip, self.train, self.fixed = samples_per_clip, train, fixed
        self.n = window_samples(cfg, cache.sample_rate)
        self.epoch = 0
        if cache.channels != 4:
            raise ValueError(
                f"{cache.cache_dir}: {cache.channels}-channel audio; the spatial task "
                "needs 4-channel ambiX FOA (a dataset whose layout reads foa/, "
                "e.g. synthetic_foa)"
            )
        short = [cache.clip_ids[i] for i in range(len(cache)) if cache.info(i)["n_samples"] < self.n]
        if short:
            raise ValueError(f"clips shorter than one audio window ({self.n} samples): {short[:5]}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.cache) * self.samples_per_clip

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, index])
        i = index % len(self.cache)
        n_total = self.cache.info(i)["n_samples"]
        start = int(rng.integers(0, n_total - self.n + 1))
        foa = clip_window(self.cache, i, start, self.n)
        frames = self.cache.frames(i)
        idx = frame_indices(
            (start + self.n / 2) / self.cache.sample_rate,
            self.cache.fps,
            len(frames),
            int(self.cfg["frames"]["n_frames"]),
        )
        frames = np.asarray(frames[idx])
        if self.train and self.cfg["frames"]["flip"] and rng.random() < 0.5:
            frames = np.ascontiguousarray(frames[:, :, ::-1])
            foa[1] = -foa[1]
        vps = draw_viewpoints(rng, self.cfg, self.views, foa)
        crops = render_crops(frames, vps, self.cfg)
        if self.train:
            crops = jitter(crops, rng, self.cfg["frames"]["jitter"])
        return {"crops": crops, "foa": torch.from_numpy(foa), "rot": torch.from_numpy(view_rotations(vps))}
