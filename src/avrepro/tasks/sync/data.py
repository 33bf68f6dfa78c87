"""Aligned and shifted audio-visual examples for the sync task, read from the feature cache.

One example is a video window of ``sample.seconds`` (whole frames) with two audio tracks from
the same clip: the aligned one (label 0) and one shifted in time (label 1) by a whole number of
frames. The shift magnitude is drawn uniformly from the allowed values (``sample.shift_seconds``,
and at most ``sample.max_overlap`` of the window shared by the true and the shifted audio), the
placement uniformly among those that fit, and which of the two windows is the video's by a coin
flip. Because of that flip, the aligned and the shifted audio windows have the same distribution
of start times: audio alone cannot tell them apart (the shortcut the published reproductions
found), and starts are randomised over the whole clip.

Every draw is a pure function of ``(seed, epoch, index)``; validation and test sets are fixed.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from avrepro.data.cache import FeatureCache


@dataclass(frozen=True)
class Geometry:
    """Window and shift sizes of one clip in frames and samples."""

    frames: int  # video frames per window
    samples: int  # audio samples per window
    samples_per_frame: float
    max_start: int  # last valid window start (frames)
    shifts: tuple[int, ...]  # allowed |shift| values (frames)


def window_frames(sample_cfg: dict, fps: float) -> int:
    """Frames per window (1.5 s at 10 fps -> 15)."""
    return max(1, int(round(sample_cfg["seconds"] * fps)))


def allowed_shifts(sample_cfg: dict, fps: float, n_frames: int) -> tuple[int, ...]:
    """Shift magnitudes (frames) within ``shift_seconds`` whose windows overlap by at most
    ``max_overlap`` of a window, and that fit in a window start range of ``n_frames``."""
    f = window_frames(sample_cfg, fps)
    lo_s, hi_s = sample_cfg["shift_seconds"]
    lo = max(1, math.ceil(lo_s * fps - 1e-9), math.ceil(f * (1 - sample_cfg["max_overlap"]) - 1e-9))
    hi = min(int(math.floor(hi_s * fps + 1e-9)), n_frames)
    return tuple(range(lo, hi + 1))


def geometry(sample_cfg: dict, cache: FeatureCache, i: int) -> Geometry:
    """Window geometry of clip ``i``; raises ``ValueError`` naming the clip if no shift fits."""
    fps, rate = cache.fps, cache.sample_rate
    f = window_frames(sample_cfg, fps)
    spf = rate / fps
    n = int(round(f * spf))
    info = cache.info(i)
    by_audio = int(math.floor((info["n_samples"] - n) / spf + 1e-9))
    max_start = min(info["n_frames"] - f, by_audio)
    shifts = allowed_shifts(sample_cfg, fps, max_start) if max_start >= 1 else ()
    if not shifts:
        raise ValueError(
            f"clip {cache.clip_ids[i]}: {info['n_frames']} frames / {info['n_samples']} samples leave "
            f"no room for a {sample_cfg['seconds']} s window shifted by "
            f"{sample_cfg['shift_seconds'][0]}-{sample_cfg['shift_seconds'][1]} s with at most "
            f"{sample_cfg['max_overlap']:.0%} overlap"
        )
    return Geometry(f, n, spf, max_start, shifts)


def draw_pair(geo: Geometry, rng: np.random.Generator) -> tuple[int, int]:
    """(video start, shifted-audio start) in frames: |shift| uniform over the allowed values,
    placement uniform, orientation a coin flip (so both starts have the same distribution)."""
    d = int(rng.choice(geo.shifts))
    first = int(rng.integers(0, geo.max_start - d + 1))
    pair = (first, first + d)
    return pair if rng.random() < 0.5 else (pair[1], pair[0])


def mono_window(cache: FeatureCache, i: int, start: int, n: int, rms: float, eps: float = 1e-4) -> np.ndarray:
    """``n`` samples of clip ``i``'s mono mixdown from ``start``, scaled to RMS ``rms``."""
    audio = cache.audio(i)[:, start : start + n].astype(np.float32).mean(axis=0) / 32767.0
    if audio.shape[0] != n:
        raise ValueError(f"clip {cache.clip_ids[i]}: audio window [{start}, {start + n}) is out of range")
    level = max(eps, float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))))
    return (audio * (rms / level)).astype(np.float32)


def frames_tensor(frames: np.ndarray, flip: bool = False) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 -> ``(3, T, H, W)`` float in [-1, 1] (optionally mirrored)."""
    x = torch.from_numpy(np.array(frames, dtype=np.uint8)).permute(3, 0, 1, 2).float() / 127.5 - 1.0
    return torch.flip(x, dims=[3]) if flip else x


def make_example(
    cache: FeatureCache, i: int, sample_cfg: dict, geo: Geometry, pair: tuple[int, int], flip: bool = False
) -> dict:
    """The example of clip ``i`` for a (video start, shifted start) pair.

    Returns:
        ``frames (3, T, H, W)``, ``audio (2, N)`` = [aligned, shifted], ``label (2,)`` = [0, 1],
        ``shift (2,)`` = audio start minus video start in seconds = [0, ±d], ``start`` (frames).
    """
    v, o = pair
    spf, n, rms = geo.samples_per_frame, geo.samples, sample_cfg["rms"]
    aligned = mono_window(cache, i, int(round(v * spf)), n, rms)
    shifted = mono_window(cache, i, int(round(o * spf)), n, rms)
    fps = cache.fps
    return {
        "frames": frames_tensor(cache.frames(i)[v : v + geo.frames], flip),
        "audio": torch.from_numpy(np.stack([aligned, shifted])),
        "label": torch.tensor([0.0, 1.0]),
        "shift": torch.tensor([0.0, (o - v) / fps], dtype=torch.float32),
        "start": torch.tensor(v),
    }


class SyncExamples(Dataset):
    """``per_clip`` examples of every clip (see :func:`make_example`); call :meth:`set_epoch`.

    Args:
        train: random horizontal flips (``sample.flip``) when true.
        fixed: the same examples every epoch (validation).
    """

    def __init__(
        self,
        cache: FeatureCache,
        cfg: dict,
        seed: int,
        per_clip: int,
        train: bool = True,
        fixed: bool = False,
    ):
        self.cache, self.sample_cfg, self.seed = cache, cfg["sample"], seed
        self.per_clip, self.train, self.fixed = per_clip, train, fixed
        self.geo = [geometry(self.sample_cfg, cache, i) for i in range(len(cache))]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.cache) * self.per_clip

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, index])
        clip = index % len(self.cache)
        pair = draw_pair(self.geo[clip], rng)
        flip = bool(self.train and self.sample_cfg["flip"] and rng.random() < 0.5)
        return make_example(self.cache, clip, self.sample_cfg, self.geo[clip], pair, flip)


def eval_pairs(
    cache: FeatureCache, i: int, sample_cfg: dict, per_clip: int, seed: int
) -> list[tuple[int, int]]:
    """The fixed evaluation examples of clip ``i`` (a function of the seed and the clip id only):
    ``per_clip`` window pairs, each used both ways, so that every audio window of the test set is
    once the aligned and once the shifted track (audio alone scores exactly chance).

    Returns:
        ``2 * per_clip`` (video start, shifted-audio start) pairs: ``[p1, .., pn, p1', .., pn']``
        with ``p'`` the mirror of ``p``.
    """
    geo = geometry(sample_cfg, cache, i)
    rng = np.random.default_rng([seed, 104, zlib.crc32(cache.clip_ids[i].encode())])
    pairs = [draw_pair(geo, rng) for _ in range(per_clip)]
    return pairs + [(o, v) for v, o in pairs]
