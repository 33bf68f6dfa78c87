"""Mix-and-separate examples from solo clips (MUSIC layout), read from the feature cache.

A training example mixes N clips of N different classes: a random window of each (random
volume in ``mix.volume``, each source divided by N), and each clip's frames around its window's
centre. Every example is a pure function of ``(seed, epoch, index)``. Test mixtures are a
seeded, fixed list of N-tuples of clips of different classes, each read at its centre window.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from avrepro.data.cache import FeatureCache
from avrepro.video.crop import crop_hw

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
SILENT = 1e-5  # a source whose sum |x| is below this is silent (the official code's test)


def clip_class(meta: dict | None) -> str | None:
    """The class of a solo clip: ``meta["label"]``, else its only source's class; ``None`` for
    clips without meta or with several sources (they cannot be ground truth of one source)."""
    if not meta:
        return None
    if meta.get("label"):
        return str(meta["label"])
    sources = meta.get("sources") or []
    return str(sources[0]["class"]) if len(sources) == 1 else None


def clip_classes(cache: FeatureCache) -> list[str | None]:
    """Class of every clip of ``cache`` (``None`` = unusable)."""
    return [clip_class(cache.meta(i)) for i in range(len(cache))]


def usable_clips(cache: FeatureCache, n_mix: int) -> tuple[list[int], dict[str, list[int]]]:
    """Clip indices with a class, and the indices per class; at least ``n_mix`` classes needed."""
    classes = clip_classes(cache)
    by_class: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        if c is not None:
            by_class.setdefault(c, []).append(i)
    if len(by_class) < n_mix:
        raise ValueError(
            f"{cache.cache_dir}: mixing {n_mix} clips of different classes needs "
            f"{n_mix} classes of single-source clips, found {len(by_class)} "
            f"({', '.join(sorted(by_class)) or 'none'})"
        )
    usable = [i for i, c in enumerate(classes) if c is not None]
    return usable, dict(sorted(by_class.items()))


def read_window(cache: FeatureCache, i: int, start: int, length: int) -> np.ndarray:
    """``length`` samples of clip ``i``'s (first channel) audio from ``start`` (negative: zeros
    before the clip), zero padded, float."""
    lead = max(0, -start)
    audio = cache.audio(i)[0, start + lead : start + length].astype(np.float32) / 32767.0
    if lead or len(audio) < length:
        audio = np.pad(audio, (lead, length - lead - len(audio)))
    return audio


def centre_start(cache: FeatureCache, i: int, length: int) -> int:
    """Start of the window centred on clip ``i`` (0 when the clip is shorter)."""
    return max(0, (cache.info(i)["n_samples"] - length) // 2)


def frame_indices(centre_s: float, fps: float, n_frames: int, count: int, stride_s: float) -> list[int]:
    """``count`` frame indices around ``centre_s`` seconds, ``stride_s`` apart, clamped."""
    centre = round(centre_s * fps)
    stride = max(1, round(stride_s * fps)) if count > 1 else 0
    return [int(min(max(centre + (k - count // 2) * stride, 0), n_frames - 1)) for k in range(count)]


def _normalize(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) - IMAGENET_MEAN) / IMAGENET_STD


def eval_frames(frames: np.ndarray, crop: tuple[int, int]) -> torch.Tensor:
    """``(n, H, W, 3)`` uint8 -> ``(n, 3, h, w)``: the whole frame resized to the crop size
    (so boxes scale with the frame), ImageNet-normalised."""
    x = torch.from_numpy(np.array(frames, dtype=np.float32)).permute(0, 3, 1, 2) / 255.0
    x = F.interpolate(x, size=crop, mode="bilinear", antialias=True, align_corners=False)
    return _normalize(x)


def denormalize(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised frames ``(n, 3, h, w)`` back to RGB in [0, 1] (as the net saw them)."""
    return (x * IMAGENET_STD + IMAGENET_MEAN).clamp(0, 1)


def train_frames(
    frames: np.ndarray, crop: tuple[int, int], flip: bool, rng: np.random.Generator
) -> torch.Tensor:
    """Training frames: one random crop (and, with ``flip``, a random horizontal flip) for all
    frames of one video, ImageNet-normalised."""
    x = torch.from_numpy(np.array(frames, dtype=np.float32)).permute(0, 3, 1, 2) / 255.0
    h, w = x.shape[-2:]
    ch, cw = crop
    if ch > h or cw > w:
        raise ValueError(f"crop {cw}x{ch} is larger than the cached frames {w}x{h}")
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    x = x[:, :, top : top + ch, left : left + cw]
    if flip and rng.random() < 0.5:
        x = x.flip(-1)
    return _normalize(x)


class SeparationMixes(Dataset):
    """Mixtures of ``mix.n`` clips of different classes.

    Item: ``{"audio": (N, L) float32 sources (scaled, / N), "frames": (N, n_frames, 3, h, w)}``.
    ``length`` items per epoch; item ``index`` starts from usable clip ``index % n_clips`` (every
    clip leads a mixture each epoch) and draws the other N - 1 classes, then a clip of each.
    A validation split (``train=False``) with fewer than N classes mixes clips regardless of
    class, with a warning (tiny smoke splits). With ``train=False`` there is no volume jitter
    and frames are resized, not cropped; with ``fixed=True`` the items do not change between
    epochs (validation).
    """

    def __init__(
        self, cache: FeatureCache, cfg: dict, seed: int, length: int, train: bool = True, fixed: bool = False
    ):
        self.cache, self.cfg, self.seed = cache, cfg, seed
        self.length, self.train, self.fixed = length, train, fixed
        self.n_mix = cfg["mix"]["n"]
        self.window = cfg["audio"]["window"]
        classes = {c for c in clip_classes(cache) if c is not None}
        self.any_class = not train and len(classes) < self.n_mix
        if self.any_class:  # a tiny validation split (smoke): keep the loss computable
            warnings.warn(
                f"{cache.cache_dir}: {len(classes)} class(es) for mixtures of "
                f"{self.n_mix}: validation mixes clips regardless of class",
                RuntimeWarning,
                stacklevel=2,
            )
            usable = [i for i, c in enumerate(clip_classes(cache)) if c is not None]
            if not usable:
                raise ValueError(f"{cache.cache_dir}: no single-source clips to mix")
            self.usable, self.by_class = usable, {"any": usable}
        else:
            self.usable, self.by_class = usable_clips(cache, self.n_mix)
        self.class_of = {i: c for c, ids in self.by_class.items() for i in ids}
        self.crop = crop_hw(cfg["frames"])
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, index])
        first = self.usable[index % len(self.usable)]
        if self.any_class:
            clips = [first] + [int(k) for k in rng.choice(self.usable, size=self.n_mix - 1)]
        else:
            others = [c for c in self.by_class if c != self.class_of[first]]
            picked = rng.choice(len(others), size=self.n_mix - 1, replace=False)
            clips = [first] + [int(rng.choice(self.by_class[others[int(k)]])) for k in picked]
        fcfg, lo, hi = self.cfg["frames"], *self.cfg["mix"]["volume"]
        audio, frames = [], []
        for i in clips:
            n = self.cache.info(i)["n_samples"]
            if self.train or self.fixed:
                start = int(rng.integers(0, max(0, n - self.window) + 1))
            else:
                start = centre_start(self.cache, i, self.window)
            wav = read_window(self.cache, i, start, self.window)
            if self.train:
                wav = np.clip(wav * rng.uniform(lo, hi), -1.0, 1.0)
            audio.append(wav / self.n_mix)
            all_frames = self.cache.frames(i)
            idx = frame_indices(
                (start + self.window / 2) / self.cache.sample_rate,
                self.cache.fps,
                len(all_frames),
                fcfg["count"],
                fcfg["stride_seconds"],
            )
            clip_frames = all_frames[idx]
            frames.append(
                train_frames(clip_frames, self.crop, fcfg["flip"], rng)
                if self.train
                else eval_frames(clip_frames, self.crop)
            )
        return {"audio": torch.from_numpy(np.stack(audio).astype(np.float32)), "frames": torch.stack(frames)}


def mix_datasets(
    cfg: dict, train: FeatureCache, val: FeatureCache, seed: int
) -> tuple[SeparationMixes, SeparationMixes]:
    """The training mixtures (``train.mixes_per_clip`` per usable clip and epoch) and the fixed
    validation mixtures (``train.val_mixes``)."""
    t = cfg["train"]
    per_epoch = len(usable_clips(train, cfg["mix"]["n"])[0]) * t["mixes_per_clip"]
    return (
        SeparationMixes(train, cfg, seed, per_epoch, train=True),
        SeparationMixes(val, cfg, seed + 1, t["val_mixes"], train=False, fixed=True),
    )


def evaluation_mixtures(
    cache: FeatureCache, n_mix: int, count: int, window: int, seed: int
) -> list[tuple[int, ...]]:
    """A seeded, fixed list of ``count`` distinct N-tuples of clips of N different classes whose
    centre windows are not silent (fewer if the split has fewer such tuples)."""
    _, by_class = usable_clips(cache, n_mix)
    loud = {
        c: [
            i
            for i in ids
            if np.abs(read_window(cache, i, centre_start(cache, i, window), window)).sum() / n_mix > SILENT
        ]
        for c, ids in by_class.items()
    }
    classes = [c for c, ids in loud.items() if ids]
    if len(classes) < n_mix:
        raise ValueError(f"{cache.cache_dir}: fewer than {n_mix} classes have non-silent clips")
    rng = np.random.default_rng([seed, 2018])
    out: list[tuple[int, ...]] = []
    seen: set[frozenset] = set()
    tries = 0
    while len(out) < count and tries < 50 * count:
        tries += 1
        picked = rng.choice(len(classes), size=n_mix, replace=False)
        combo = tuple(int(rng.choice(loud[classes[int(k)]])) for k in picked)
        if frozenset(combo) not in seen:
            seen.add(frozenset(combo))
            out.append(combo)
    return out
