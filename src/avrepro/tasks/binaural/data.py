"""Training and evaluation examples for the binaural task, read from the feature cache.

Every example is a pure function of ``(seed, epoch, index)``, so a resumed or repeated run
sees exactly the same windows, crops and jitters.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from avrepro.data.cache import FeatureCache

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def window_samples(audio_cfg: dict, sample_rate: int) -> int:
    """Samples in one window (0.63 s at 16 kHz -> 10,080)."""
    return int(round(audio_cfg["window_seconds"] * sample_rate))


def rms_normalize(audio: np.ndarray, rms: float, eps: float = 1e-4) -> tuple[np.ndarray, float]:
    """Scale ``audio`` to the given RMS; return it and the factor that undoes the scaling."""
    level = max(eps, float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))))
    return (audio * (rms / level)).astype(np.float32), level / rms


def frame_index(center_s: float, fps: float, n_frames: int) -> int:
    """Index of the frame nearest to ``center_s`` seconds."""
    return int(min(max(round(center_s * fps), 0), n_frames - 1))


def to_tensor_frame(frame: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.array(frame, dtype=np.float32)).permute(2, 0, 1) / 255.0


def normalize_frame(img: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of a ``(3, H, W)`` image in [0, 1]."""
    return (img - IMAGENET_MEAN) / IMAGENET_STD


def test_frame(frame: np.ndarray, crop_hw: tuple[int, int]) -> torch.Tensor:
    """Test-time frame: resized to the crop size (as the official code), normalised."""
    img = to_tensor_frame(frame)[None]
    img = F.interpolate(img, size=crop_hw, mode="bilinear", antialias=True, align_corners=False)[0]
    return normalize_frame(img.clamp(0, 1))


def train_frame(frame: np.ndarray, crop_hw: tuple[int, int], jitter: tuple[float, float],
                rng: np.random.Generator) -> torch.Tensor:
    """Training frame: random crop, brightness and colour jitter, normalised."""
    img = to_tensor_frame(frame)
    h, w = img.shape[-2:]
    ch, cw = crop_hw
    if ch > h or cw > w:
        raise ValueError(f"crop {cw}x{ch} is larger than the cached frames {w}x{h}")
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    img = img[:, top:top + ch, left:left + cw]
    brightness, colour = rng.uniform(jitter[0], jitter[1], size=2)
    img = img * brightness
    gray = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    img = gray + (img - gray) * colour
    return normalize_frame(img.clamp(0, 1))


class BinauralWindows(Dataset):
    """Random 0.63 s windows of the training clips with the frame nearest each window's centre.

    Item: ``{"audio": (2, N) float32 RMS-normalised [L, R], "frame": (3, h, w)}``.
    ``windows_per_clip`` windows per clip and epoch; call :meth:`set_epoch` before each epoch.
    With ``fixed=True`` (validation) the windows do not change between epochs.
    """

    def __init__(self, cache: FeatureCache, cfg: dict, seed: int, windows_per_clip: int,
                 train: bool = True, blank_frame: bool = False, fixed: bool = False):
        self.cache, self.cfg, self.seed = cache, cfg, seed
        self.windows_per_clip, self.train = windows_per_clip, train
        self.blank_frame, self.fixed = blank_frame, fixed
        self.n = window_samples(cfg["audio"], cache.sample_rate)
        self.crop_hw = (cfg["frames"]["crop_height"], cfg["frames"]["crop_width"])
        self.epoch = 0
        short = [cache.clip_ids[i] for i in range(len(cache)) if cache.info(i)["n_samples"] < self.n]
        if short:
            raise ValueError(f"clips shorter than one window ({self.n} samples): {short[:5]}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.cache) * self.windows_per_clip

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, index])
        clip = index % len(self.cache)
        audio = self.cache.audio(clip)
        start = int(rng.integers(0, audio.shape[1] - self.n + 1))
        window = audio[:, start:start + self.n].astype(np.float32) / 32767.0
        window, _ = rms_normalize(window, self.cfg["audio"]["rms"])
        frames = self.cache.frames(clip)
        fidx = frame_index((start + self.n / 2) / self.cache.sample_rate, self.cache.fps, len(frames))
        if self.train:
            frame = train_frame(frames[fidx], self.crop_hw, self.cfg["frames"]["jitter"], rng)
        else:
            frame = test_frame(frames[fidx], self.crop_hw)
        if self.blank_frame:
            frame = torch.zeros_like(frame)
        return {"audio": torch.from_numpy(window), "frame": frame}
