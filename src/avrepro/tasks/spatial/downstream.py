"""The pieces of the downstream evaluation with frozen trunks (assembled by :mod:`.evaluate`):
AVC-Bin, AVSA-Bin, the instrument probe and the viewpoint-alignment map.

As in the AVSA code's ``eval-avc.py``/``eval-avsa.py``: a small classifier (dropout 0.5, linear
2D -> 512, ReLU, linear 512 -> 2) is trained on the frozen embeddings of training clips to tell
matched from mismatched audio for each of a clip's K viewpoints; the clip-level decision averages
the K viewpoints' logits. With a transformer (AVSA models, ``eval.use_transformer``) the video
side is the transformer's audio prediction from all K video embeddings (the code's
``use_transf: audio``).

- AVC-Bin: positive = the clip's own FOA window rotated toward each viewpoint; negative = another
  clip's window, rotated the same way.
- AVSA-Bin: positive as above; negative = the clip's own window first turned by a random yaw
  (uniform in +-180 deg, as the code's ``rotate_mode: yaw``), then toward each viewpoint.
- Probe: a linear softmax classifier over all instrument classes on the audio trunk's embedding
  of the FOA rotated toward each source of the 360 scene, trained to predict that source's class
  (the source in front of the rotated microphone; the clip's other sources are audible too).
  Scored two ways: ``probe_accuracy``, the best-scoring class among the clip's own instruments is
  the one in front (a spatial probe: what the audio is turned toward; chance 1 / sources), and
  ``probe_class_accuracy``, the plain arg-max over all classes (mostly "which instruments play",
  which random conv features of a log-mel spectrogram already answer as well).
- Alignment map: M viewpoints evenly spaced around the horizon; the similarity of every
  viewpoint's video vector with the audio rotated toward every viewpoint (the objective's own
  128-d heads); for each audio direction the best-matching video direction.

Every draw is seeded by ``(seed, split, clip, repeat)``; the same model gives the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from avrepro.data.cache import FeatureCache
from avrepro.tasks.spatial.data import (
    clip_window,
    draw_viewpoints,
    frame_indices,
    render_crops,
    view_rotations,
    window_samples,
)
from avrepro.tasks.spatial.model import SpatialModel
from avrepro.video.viewpoints import Viewpoint

SPLIT_TAGS = {"train": 1, "test": 2}


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def clip_frames(cache: FeatureCache, i: int, start: int, n: int, cfg: dict) -> np.ndarray:
    frames = cache.frames(i)
    idx = frame_indices(
        (start + n / 2) / cache.sample_rate, cache.fps, len(frames), int(cfg["frames"]["n_frames"])
    )
    return np.asarray(frames[idx])


@torch.no_grad()
def bin_embeddings(
    model: SpatialModel,
    cache: FeatureCache,
    cfg: dict,
    seed: int,
    split: str,
    repeats: int,
    use_transformer: bool,
    progress: bool = False,
    chunk: int = 4,
) -> dict[str, torch.Tensor]:
    """Frozen embeddings of every clip x repeat: ``video`` (the classifier's video side),
    ``aligned``, ``other`` (another clip's audio) and ``yawed`` (misaligned) audio, each
    ``(clips, repeats, K, D)``; ``chunk`` examples per forward pass."""
    n = window_samples(cfg, cache.sample_rate)
    k = int(cfg["viewpoints"]["count"])
    dev = _device(model)
    n_clips = len(cache)

    def example(i: int, r: int):
        rng = np.random.default_rng([seed, SPLIT_TAGS[split], i, r])
        start = int(rng.integers(0, cache.info(i)["n_samples"] - n + 1))
        vps = draw_viewpoints(rng, cfg, k)
        j = int(rng.integers(0, n_clips - 1)) if n_clips > 1 else 0
        j = j + 1 if j >= i and n_clips > 1 else j
        start_j = int(rng.integers(0, cache.info(j)["n_samples"] - n + 1))
        yaw = float(rng.uniform(-180.0, 180.0))
        foa = clip_window(cache, i, start, n)
        crops = render_crops(clip_frames(cache, i, start, n, cfg), vps, cfg)
        wav = np.stack([foa, clip_window(cache, j, start_j, n), foa])  # own, other, own
        rot = np.stack([view_rotations(vps), view_rotations(vps), view_rotations(vps, yaw)])
        return crops, torch.from_numpy(wav), torch.from_numpy(rot)

    jobs = [(i, r) for i in range(n_clips) for r in range(repeats)]
    parts: dict[str, list[torch.Tensor]] = {key: [] for key in ("video", "aligned", "other", "yawed")}
    for b in tqdm(range(0, len(jobs), chunk), desc=f"embed {split}", disable=not progress, leave=False):
        batch = [example(i, r) for i, r in jobs[b : b + chunk]]
        crops, wav, rot = (torch.stack(x) for x in zip(*batch, strict=True))
        m = crops.shape[0]
        v = model.video(crops.flatten(0, 1).to(dev)).view(m, k, -1)  # (M, K, D)
        if use_transformer and model.has_transformer:
            v = model.predict_audio(v)
        a = model.audio(wav.flatten(0, 1).to(dev), rot.flatten(0, 1).to(dev)).view(m, 3, k, -1)
        for key, val in zip(parts, (v, a[:, 0], a[:, 1], a[:, 2]), strict=True):
            parts[key].append(val.cpu())
    return {key: torch.cat(val).view(n_clips, repeats, k, -1) for key, val in parts.items()}


class PairClassifier(nn.Module):
    """The AVC/AVSA-Bin head: dropout, linear (2D -> hidden), ReLU, linear (hidden -> 2)."""

    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2)
        )

        for name in ("v_mean", "v_std", "a_mean", "a_std"):
            self.register_buffer(name, torch.zeros(dim))

    def set_scaling(self, v_mean, v_std, a_mean, a_std) -> None:
        """Standardise each side with the training pairs' statistics."""
        self.v_mean.copy_(v_mean)
        self.v_std.copy_(v_std.clamp_min(1e-6))
        self.a_mean.copy_(a_mean)
        self.a_std.copy_(a_std.clamp_min(1e-6))

    def forward(self, v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        v = (v - self.v_mean) / self.v_std
        a = (a - self.a_mean) / self.a_std
        return self.net(torch.cat([v, a], dim=-1))


def train_pair_classifier(
    v: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, hcfg: dict, seed: int
) -> PairClassifier:
    """Fit the head on crop-level pairs: (v, pos) -> 1, (v, neg) -> 0; inputs ``(..., D)``."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    v, pos, neg = (x.reshape(-1, x.shape[-1]).float() for x in (v, pos, neg))
    head = PairClassifier(v.shape[-1], int(hcfg["hidden"]), float(hcfg["dropout"]))
    audio = torch.cat([pos, neg])
    head.set_scaling(v.mean(0), v.std(0), audio.mean(0), audio.std(0))
    xv, xa = torch.cat([v, v]), audio
    y = torch.cat([torch.ones(len(v)), torch.zeros(len(v))]).long()
    opt = torch.optim.Adam(head.parameters(), lr=float(hcfg["lr"]), weight_decay=float(hcfg["weight_decay"]))
    bs = int(hcfg["batch_size"])
    head.train()
    for _ in range(int(hcfg["epochs"])):
        order = torch.randperm(len(y), generator=gen)
        for b in range(0, len(y), bs):
            idx = order[b : b + bs]
            loss = F.cross_entropy(head(xv[idx], xa[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    head.eval()
    return head


@torch.no_grad()
def clip_decisions(head: PairClassifier, v: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> np.ndarray:
    """Per clip, the share of correct clip-level decisions over its repeats x {positive, negative}
    (logits averaged over the K viewpoints). Inputs ``(clips, repeats, K, D)``."""

    def logit(a):
        return head(v, a).mean(2)  # (C, R, K, 2) -> mean over the K viewpoints

    right_pos = logit(pos).argmax(-1) == 1
    right_neg = logit(neg).argmax(-1) == 0
    return torch.cat([right_pos, right_neg], dim=1).float().mean(1).numpy()


# ---------------------------------------------------------------------------------------------
# linear probe


@torch.no_grad()
def probe_embeddings(
    model: SpatialModel, cache: FeatureCache, cfg: dict, seed: int, split: str, windows: int, chunk: int = 16
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Audio embeddings of the FOA rotated toward every source of each clip's 360 scene.

    Returns:
        embeddings ``(S, D)``, class indices ``(S,)`` and the clip index of each row ``(S,)``.
    """
    n = window_samples(cfg, cache.sample_rate)
    dev = _device(model)
    jobs, labels, clips = [], [], []
    for i in range(len(cache)):
        sources = view360_sources(cache, i)
        rng = np.random.default_rng([seed, SPLIT_TAGS[split], i, 99])
        for _ in range(windows):
            start = int(rng.integers(0, cache.info(i)["n_samples"] - n + 1))
            for src in sources:
                jobs.append((i, start, Viewpoint(src["azimuth_deg"], src["elevation_deg"], 60.0, 60.0)))
                labels.append(int(src["class_index"]))
                clips.append(i)
    feats = []
    for b in range(0, len(jobs), chunk):
        part = jobs[b : b + chunk]
        wav = torch.from_numpy(np.stack([clip_window(cache, i, start, n) for i, start, _ in part]))
        rot = torch.from_numpy(np.stack([view_rotations([vp]) for _, _, vp in part]))  # (M, 1, 3, 3)
        feats.append(model.audio(wav.to(dev), rot.to(dev))[:, 0].cpu())
    dim = model.audio.out_dim
    return (
        (torch.cat(feats) if feats else torch.zeros(0, dim)),
        torch.tensor(labels, dtype=torch.long),
        torch.tensor(clips, dtype=torch.long),
    )


def view360_sources(cache: FeatureCache, i: int) -> list[dict]:
    """The sources of clip ``i``'s 360 scene (class, class_index, azimuth/elevation, boxes); an
    error for a clip without them (:func:`view360_meta_sources`: the tolerant form)."""
    meta = cache.meta(i)
    if not (meta or {}).get("view360"):
        raise ValueError(
            f"{cache.cache_dir}: clip {cache.clip_ids[i]} has no meta['view360'] (the "
            "synthetic generator's 360 view); the probe needs its sources"
        )
    return view360_meta_sources(meta)


def view360_meta_sources(meta: dict | None) -> list[dict]:
    """The true sources of a synthetic clip's 360 view (``meta["view360"]["sources"]``), or []."""
    return list(((meta or {}).get("view360") or {}).get("sources") or [])


def has_scene_sources(cache: FeatureCache) -> bool:
    """Whether every clip of ``cache`` has its 360 scene's sources (only the simulator's do)."""
    return all(view360_meta_sources(cache.meta(i)) for i in range(len(cache)))


def class_names(*caches: FeatureCache) -> list[str]:
    """Instrument names by class index, from the clips' 360-scene sources (none: ``[]``)."""
    names: dict[int, str] = {}
    for cache in caches:
        for i in range(len(cache)):
            for s in view360_meta_sources(cache.meta(i)):
                names.setdefault(int(s["class_index"]), s["class"])
    return [names.get(k, f"class {k}") for k in range(max(names) + 1)] if names else []


def train_probe(x: torch.Tensor, y: torch.Tensor, n_classes: int, pcfg: dict, seed: int) -> nn.Module:
    """Multinomial logistic regression on standardised features (full-batch Adam)."""
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    lin = nn.Linear(x.shape[1], n_classes)
    opt = torch.optim.Adam(lin.parameters(), lr=float(pcfg["lr"]), weight_decay=float(pcfg["weight_decay"]))
    z = (x - mean) / std
    for _ in range(int(pcfg["epochs"])):
        loss = F.cross_entropy(lin(z), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    probe = nn.Sequential(_Standardize(mean, std), lin)
    return probe.eval()


def within_clip_hits(scores: torch.Tensor, labels: torch.Tensor, clips: torch.Tensor) -> np.ndarray:
    """Per probe row: is its class the best-scoring among the classes of its clip's sources?"""
    out = np.zeros(len(labels))
    for k in range(len(labels)):
        present = labels[clips == clips[k]].unique()
        out[k] = float(present[scores[k, present].argmax()] == labels[k])
    return out


class _Standardize(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std


# ---------------------------------------------------------------------------------------------
# alignment map


def ring_viewpoints(m: int, fov_deg: float) -> list[Viewpoint]:
    """``m`` viewpoints on the horizon, azimuths 180, 180 - 360/m, ... (left to right in the
    equirect frame)."""
    return [Viewpoint(180.0 - 360.0 * q / m, 0.0, fov_deg, fov_deg) for q in range(m)]


@torch.no_grad()
def alignment_matrices(
    model: SpatialModel, cache: FeatureCache, cfg: dict, m: int, fov_deg: float, chunk: int = 4
) -> np.ndarray:
    """``(clips, m, m)`` cosine similarities per clip: row = video viewpoint of the ring, column =
    audio rotated toward that viewpoint, from the objective's heads (AVC: projections; AVSA: V2A
    prediction from all m video viewpoints vs audio target). The audio window is centred on the
    clip's middle; the frames are those around it."""
    n = window_samples(cfg, cache.sample_rate)
    vps = ring_viewpoints(m, fov_deg)
    rot = torch.from_numpy(view_rotations(vps))
    out = []
    for b in range(0, len(cache), chunk):
        idx = range(b, min(len(cache), b + chunk))
        starts = [max(0, (cache.info(i)["n_samples"] - n) // 2) for i in idx]
        crops = torch.stack(
            [
                render_crops(clip_frames(cache, i, st, n, cfg), vps, cfg)
                for i, st in zip(idx, starts, strict=True)
            ]
        )
        wav = torch.from_numpy(
            np.stack([clip_window(cache, i, st, n) for i, st in zip(idx, starts, strict=True)])
        )
        out.append(viewpoint_similarity(model, crops, wav, rot).cpu().numpy())
    return np.concatenate(out)


@torch.no_grad()
def viewpoint_similarity(
    model: SpatialModel, crops: torch.Tensor, wav: torch.Tensor, rot: torch.Tensor
) -> torch.Tensor:
    """``(C, m, m)`` cosine similarities of C windows seen from m viewpoints: row = the crop of a
    viewpoint (``crops`` ``(C, m, T, 3, h, w)``), column = the window's FOA (``wav`` ``(C, 4, n)``)
    turned by ``rot`` ``(m, 3, 3)`` toward a viewpoint, from the objective's heads (AVC:
    projections; AVSA: V2A prediction from all m crops vs audio target)."""
    dev = _device(model)
    c, m = crops.shape[:2]
    v = model.video(crops.flatten(0, 1).to(dev)).view(c, m, -1)
    a = model.audio(wav.to(dev), rot[None].expand(c, -1, -1, -1).to(dev))
    if model.objective == "avc":
        pv, pa = model.video_proj(v), model.audio_proj(a)
    else:
        pv, pa = model.audio_pred_head(model.v2a(v)), model.audio_head(a)
    return F.normalize(pv, dim=-1) @ F.normalize(pa, dim=-1).transpose(1, 2)


def double_centered(sim: np.ndarray) -> np.ndarray:
    """``sim`` minus its row and column means (plus the grand mean): removes a video viewpoint
    that matches every audio direction (or the reverse) before asking which pairs match."""
    return sim - sim.mean(0, keepdims=True) - sim.mean(1, keepdims=True) + sim.mean()


def alignment_scores(sim: np.ndarray) -> tuple[float, float]:
    """(top-1 share of audio directions whose best video viewpoint is their own, mean absolute
    azimuth error in degrees of that best viewpoint) for a ring similarity matrix, after
    :func:`double_centered`."""
    m = sim.shape[0]
    best = double_centered(sim).argmax(0)
    diff = np.abs(best - np.arange(m)) % m
    err = np.minimum(diff, m - diff) * 360.0 / m
    return float(np.mean(best == np.arange(m))), float(err.mean())
