"""Training and evaluation examples for the binaural task, read from the feature cache.

Every example is a pure function of ``(seed, epoch, index)``, so a resumed or repeated run
sees exactly the same windows, crops, jitters and coherence labels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from avrepro.data.cache import FeatureCache
from avrepro.tasks.binaural.rir import cache_targets
from avrepro.video.crop import crop_hw

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def window_samples(audio_cfg: dict, sample_rate: int) -> int:
    """Samples in one window (0.63 s at 16 kHz -> 10,080)."""
    return int(round(audio_cfg["window_seconds"] * sample_rate))


def spec_ft(audio_cfg: dict, sample_rate: int) -> tuple[int, int]:
    """(frequency bins, frames) of one window's spectrogram (last bin dropped)."""
    return audio_cfg["n_fft"] // 2, 1 + window_samples(audio_cfg, sample_rate) // audio_cfg["hop"]


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


def train_frame(
    frame: np.ndarray, crop_hw: tuple[int, int], jitter: tuple[float, float], rng: np.random.Generator
) -> torch.Tensor:
    """Training frame: random crop, brightness and colour jitter, normalised."""
    img = to_tensor_frame(frame)
    h, w = img.shape[-2:]
    ch, cw = crop_hw
    if ch > h or cw > w:
        raise ValueError(f"crop {cw}x{ch} is larger than the cached frames {w}x{h}")
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    img = img[:, top : top + ch, left : left + cw]
    brightness, colour = rng.uniform(jitter[0], jitter[1], size=2)
    img = img * brightness
    gray = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    img = gray + (img - gray) * colour
    return normalize_frame(img.clamp(0, 1))


def pair_start(
    rng: np.random.Generator,
    start: int,
    n_samples: int,
    window: int,
    max_offset: int,
    sample_rate: int,
    fps: float,
    n_frames: int,
) -> int:
    """Start of a second window whose centre is within ``max_offset`` samples of the first one's
    and, where the clip allows it, whose nearest frame is another frame (geometric consistency)."""
    lo, hi = max(0, start - max_offset), min(n_samples - window, start + max_offset)
    first = frame_index((start + window / 2) / sample_rate, fps, n_frames)
    other = start
    for _ in range(8):
        other = int(rng.integers(lo, hi + 1))
        if frame_index((other + window / 2) / sample_rate, fps, n_frames) != first:
            break
    return other


class BinauralWindows(Dataset):
    """Pairs of random 0.63 s windows of the training clips, with the frame nearest each
    window's centre.

    The two windows of an item come from one clip, their centres at most
    ``train.pair_seconds`` apart (a different frame where possible): the geometric-consistency
    loss compares their visual features; every other loss treats them as two examples.
    ``train.pair_augmentation``: ``independent`` crops and jitters per frame (the official code)
    or one ``shared`` crop and jitter per item, so that the two frames differ only in time.

    Item: ``{"audio": (2, 2, N) float32 RMS-normalised [L, R] per window, "frame": (2, 3, h, w),
    "swap": (2,) float32 coherence labels (1 = present the ears swapped)}``, plus ``"rir":
    (2, bands, bins)`` dB when ``rir_targets`` (one per clip) are given.
    ``windows_per_clip`` items per clip and epoch; call :meth:`set_epoch` before each epoch.
    With ``fixed=True`` (validation) the windows do not change between epochs.
    """

    def __init__(
        self,
        cache: FeatureCache,
        cfg: dict,
        seed: int,
        windows_per_clip: int,
        train: bool = True,
        blank_frame: bool = False,
        fixed: bool = False,
        rir_targets: np.ndarray | None = None,
    ):
        self.cache, self.cfg, self.seed = cache, cfg, seed
        self.windows_per_clip, self.train = windows_per_clip, train
        self.blank_frame, self.fixed = blank_frame, fixed
        self.rir_targets = rir_targets
        self.n = window_samples(cfg["audio"], cache.sample_rate)
        self.max_offset = int(round(cfg["train"]["pair_seconds"] * cache.sample_rate))
        self.shared_aug = cfg["train"]["pair_augmentation"] == "shared"
        self.crop_hw = crop_hw(cfg["frames"])
        self.epoch = 0
        short = [cache.clip_ids[i] for i in range(len(cache)) if cache.info(i)["n_samples"] < self.n]
        if short:
            raise ValueError(f"clips shorter than one window ({self.n} samples): {short[:5]}")
        if rir_targets is not None and len(rir_targets) != len(cache):
            raise ValueError(f"{len(rir_targets)} RIR targets for {len(cache)} clips")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.cache) * self.windows_per_clip

    def _window(
        self, audio: np.ndarray, frames: np.ndarray, start: int, aug: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        window = audio[:, start : start + self.n].astype(np.float32) / 32767.0
        window, _ = rms_normalize(window, self.cfg["audio"]["rms"])
        fidx = frame_index((start + self.n / 2) / self.cache.sample_rate, self.cache.fps, len(frames))
        if self.train:
            frame = train_frame(frames[fidx], self.crop_hw, self.cfg["frames"]["jitter"], aug)
        else:
            frame = test_frame(frames[fidx], self.crop_hw)
        if self.blank_frame:
            frame = torch.zeros_like(frame)
        return torch.from_numpy(window), frame

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, index])
        clip = index % len(self.cache)
        audio, frames = self.cache.audio(clip), self.cache.frames(clip)
        start = int(rng.integers(0, audio.shape[1] - self.n + 1))
        second = pair_start(
            rng,
            start,
            audio.shape[1],
            self.n,
            self.max_offset,
            self.cache.sample_rate,
            self.cache.fps,
            len(frames),
        )
        if self.shared_aug:  # one crop and jitter for both frames: they differ in time only
            aug_seed = int(rng.integers(2**31))
            augs = [np.random.default_rng(aug_seed), np.random.default_rng(aug_seed)]
        else:
            augs = [rng, rng]
        (a1, f1), (a2, f2) = (
            self._window(audio, frames, s, a) for s, a in zip((start, second), augs, strict=True)
        )
        item = {
            "audio": torch.stack([a1, a2]),
            "frame": torch.stack([f1, f2]),
            "swap": torch.from_numpy(rng.integers(0, 2, size=2).astype(np.float32)),
        }
        if self.rir_targets is not None:
            item["rir"] = torch.from_numpy(np.asarray(self.rir_targets[clip], dtype=np.float32))
        return item


def window_datasets(
    cfg: dict, train: FeatureCache, val: FeatureCache, seed: int, *, blank_frame: bool, rir: bool
) -> tuple[BinauralWindows, BinauralWindows]:
    """The training windows (new ones each epoch) and the fixed validation windows; with
    ``rir`` each item carries its clip's RIR target (params ``binaural.rir``)."""
    targets = (cache_targets(train, cfg["rir"]), cache_targets(val, cfg["rir"])) if rir else (None, None)
    return (
        BinauralWindows(
            train,
            cfg,
            seed,
            cfg["train"]["windows_per_clip"],
            train=True,
            blank_frame=blank_frame,
            rir_targets=targets[0],
        ),
        BinauralWindows(
            val,
            cfg,
            seed + 1,
            cfg["train"]["val_windows_per_clip"],
            train=False,
            blank_frame=blank_frame,
            fixed=True,
            rir_targets=targets[1],
        ),
    )
