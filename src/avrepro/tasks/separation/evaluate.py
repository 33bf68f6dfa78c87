"""Evaluation of the separation task on its fixed list of test mixtures.

Every evaluated name, a trained variant or a baseline, runs the same loop
(:func:`run_evaluation`) with its own *masker*: a function from one :class:`Chunk` of test
mixtures to their masks on the linear frequency axis (and, for a trained model, the sound maps).
As the official code, the masks are applied to |mix| with the mixture's phase and inverted;
BSS Eval then scores every mixture (:func:`avrepro.metrics.separation.score_mixtures`, in worker
processes), and a trained model's sound maps are scored against each clip's true box.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from avrepro.data.cache import FeatureCache
from avrepro.metrics.localization import box_share, mass_in_box, pointing_hit, scale_box
from avrepro.metrics.separation import score_mixtures
from avrepro.metrics.summary import summarize
from avrepro.tasks.base import Evaluation
from avrepro.tasks.separation import spectral
from avrepro.tasks.separation.data import (
    centre_start,
    clip_class,
    clip_classes,
    eval_frames,
    evaluation_mixtures,
    frame_indices,
    read_window,
)
from avrepro.tasks.separation.model import PixelPlayer, mask_kind
from avrepro.tasks.separation.names import LOCALIZATION_KEYS, SEPARATION_KEYS
from avrepro.video.crop import crop_hw


@dataclass(frozen=True)
class Chunk:
    """One batch of test mixtures, each clip read at its centre window."""

    first: int  # position of the first mixture in the fixed list
    combos: list[tuple[int, ...]]  # the clips of each mixture
    starts: list[list[int]]  # each clip's window start (samples)
    fidx: list[list[int]]  # each clip's frame indices
    sources: torch.Tensor  # (b, N, L) float32, each source / N
    mix_spec: torch.Tensor  # (b, F, T) complex STFT of the mixtures


Masker = Callable[[Chunk], tuple[torch.Tensor, np.ndarray | None]]
"""Masks ``(b, N, F, T)`` on the linear axis of one chunk, and sound maps ``(b, N, h, w)`` or None."""


def eval_workers(ecfg: dict) -> int:
    """BSS Eval processes: ``eval.workers``, or with ``auto`` the torch threads this run got."""
    setting = ecfg["workers"]
    return max(1, torch.get_num_threads() if setting == "auto" else int(setting))


def evaluate_model(
    model: PixelPlayer, cfg: dict, test: FeatureCache, name: str, *, progress: bool = True
) -> Evaluation:
    """The trained variant ``name``: separation and localization on the test mixtures."""
    started = time.perf_counter()
    masker = model_masker(model, name, cfg, test)
    return run_evaluation(cfg, test, name, masker, localize=True, progress=progress, started=started)


def model_masker(model: PixelPlayer, name: str, cfg: dict, test: FeatureCache) -> Masker:
    """The model's masks (thresholded at ``eval.mask_threshold`` for binary masks) and sound maps
    (the frame net at ``eval.map_output_stride``) from each clip's frames resized to the crop size."""
    model.eval()
    kind = mask_kind(name)
    device = next(model.parameters()).device
    crop, threshold = crop_hw(cfg["frames"]), cfg["eval"]["mask_threshold"]
    window = spectral.frames_of(cfg["audio"])  # longer test mixtures: window by window
    mapper = model.at_map_stride(cfg["eval"].get("map_output_stride"))  # (absent in older configs)

    def masks(chunk: Chunk) -> tuple[torch.Tensor, np.ndarray]:
        frames = chunk_frames(test, chunk, crop).to(device)
        soft, maps = _model_masks(model, mapper, chunk.sources.to(device), frames, cfg["audio"], window)
        return ((soft > threshold).float() if kind == "binary" else soft), maps

    return masks


def chunk_frames(test: FeatureCache, chunk: Chunk, crop: tuple[int, int]) -> torch.Tensor:
    """``(b, N, count, 3, h, w)``: each clip's frames of a chunk, resized to the crop size."""
    return torch.stack(
        [
            torch.stack([eval_frames(test.frames(i)[f], crop) for i, f in zip(combo, fi, strict=False)])
            for combo, fi in zip(chunk.combos, chunk.fidx, strict=False)
        ]
    )


@torch.no_grad()
def _model_masks(
    model: nn.Module, mapper: nn.Module, sources: torch.Tensor, frames: torch.Tensor, acfg: dict, window: int
) -> tuple[torch.Tensor, np.ndarray]:
    """Soft masks on the linear axis ``(b, N, F, T)`` (CPU) of ``model`` and sound maps
    ``(b, N, h, w)`` from the frame features of ``mapper`` (the model at the maps' stride), each
    net run once, the sound net ``window`` STFT frames at a time."""
    prep = spectral.prepare(sources, acfg)
    logits, maps = model.separate_and_map(prep["log_mag"], prep["mag_mix"], frames, window, mapper)
    soft = spectral.to_linear(torch.sigmoid(logits.float()), acfg)
    return soft.cpu(), maps.float().cpu().numpy()


def at_test_length(cfg: dict) -> dict:
    """``cfg`` with ``audio.window`` set to the test mixtures' length, ``eval.window`` (None: the
    training window; the papers test on 65,535 samples)."""
    window = cfg["eval"].get("window")
    if not window or window == cfg["audio"]["window"]:
        return cfg
    return {**cfg, "audio": {**cfg["audio"], "window": window}}


def run_evaluation(
    cfg: dict,
    test: FeatureCache,
    name: str,
    masker: Masker,
    *,
    localize: bool,
    progress: bool,
    started: float,
) -> Evaluation:
    """Estimates of every test mixture by ``masker``, then BSS Eval: (summary, rows, predictions).

    ``localize``: the masker gives sound maps, scored per mixture and summarised with their
    chance levels. ``started``: when the evaluation began (``perf_counter``, for the timing line).
    """
    cfg = at_test_length(cfg)
    rows, jobs, predictions = _estimate(cfg, test, name, masker, progress)
    t1 = time.perf_counter()
    workers = eval_workers(cfg["eval"])
    scores = score_mixtures(jobs, workers)
    t2 = time.perf_counter()
    summary = _summary(rows, scores, cfg["mix"]["n"], localize)
    print(
        f"separation {name}: {len(rows)} test mixtures ({summary['n_skipped']} skipped as "
        f"silent); estimates {t1 - started:.1f} s, BSS Eval {t2 - t1:.1f} s on {workers} "
        f"process(es)",
        file=sys.stderr,
        flush=True,
    )
    return summary, rows, predictions


def _estimate(
    cfg: dict, test: FeatureCache, name: str, masker: Masker, progress: bool
) -> tuple[list[dict], list[tuple], dict]:
    """Rows, BSS Eval jobs ``(sources, estimates, mixture)`` and saved predictions of every
    test mixture, ``eval.batch_size`` mixtures at a time."""
    acfg, ecfg = cfg["audio"], cfg["eval"]
    combos = evaluation_mixtures(test, cfg["mix"]["n"], ecfg["mixtures"], acfg["window"], ecfg["seed"])
    _warn_short_clips(test, combos, acfg["window"])
    classes = clip_classes(test)
    rows, jobs, predictions = [], [], {}
    batch = ecfg["batch_size"]
    for b0 in tqdm(range(0, len(combos), batch), desc=f"separation {name}", disable=not progress):
        chunk = read_chunk(test, combos[b0 : b0 + batch], b0, cfg)
        masks, maps = masker(chunk)
        estimates = spectral.apply_masks(masks.cpu(), chunk.mix_spec, acfg, acfg["window"]).numpy()
        mixture = spectral.waveform(chunk.mix_spec, acfg, acfg["window"]).numpy()
        for j in range(len(chunk.combos)):
            row, job, saved = _mixture_records(
                cfg,
                test,
                classes,
                chunk,
                j,
                estimates[j],
                mixture[j],
                masks[j],
                maps[j] if maps is not None else None,
            )
            rows.append(row)
            jobs.append(job)
            predictions.update(saved)
    return rows, jobs, predictions


def _warn_short_clips(test: FeatureCache, combos: list[tuple[int, ...]], window: int) -> None:
    """Say how many of the test mixtures' clips are shorter than their window (zero padded)."""
    clips = sorted({i for combo in combos for i in combo})
    short = [i for i in clips if test.info(i)["n_samples"] < window]
    if short:
        warnings.warn(
            f"{test.cache_dir}: {len(short)} of the {len(clips)} test clips are shorter than the "
            f"test window ({window} samples, {window / test.sample_rate:.2f} s; eval.window): they "
            f"are zero padded (first: {test.clip_ids[short[0]]}, {test.info(short[0])['n_samples']} samples)",
            RuntimeWarning,
            stacklevel=2,
        )


def read_chunk(test: FeatureCache, combos: list[tuple[int, ...]], first: int, cfg: dict) -> Chunk:
    """The sources (each / N), mixture STFT and frame indices of the mixtures ``combos``, each
    clip read at its centre window."""
    length = cfg["audio"]["window"]
    starts = [[centre_start(test, i, length) for i in combo] for combo in combos]
    return chunk_at(test, combos, starts, first, cfg)


def chunk_at(
    test: FeatureCache, combos: list[tuple[int, ...]], starts: list[list[int]], first: int, cfg: dict
) -> Chunk:
    """The mixtures ``combos`` with each clip's window at ``starts`` (samples; zeros outside the
    clip): sources (each / the mixture's clip count), mixture STFT and frame indices."""
    acfg, fcfg = cfg["audio"], cfg["frames"]
    length = acfg["window"]
    sources = torch.from_numpy(
        np.stack(
            [
                np.stack([read_window(test, i, s, length) for i, s in zip(combo, st, strict=False)])
                / len(combo)
                for combo, st in zip(combos, starts, strict=False)
            ]
        ).astype(np.float32)
    )  # (b, N, L)
    mix = sources.sum(dim=1)
    mix_spec = spectral.spec(mix, acfg)  # (b, F, T)
    fidx = [
        [
            frame_indices(
                (s + length / 2) / test.sample_rate,
                test.fps,
                len(test.frames(i)),
                fcfg["count"],
                fcfg["stride_seconds"],
            )
            for i, s in zip(combo, st, strict=False)
        ]
        for combo, st in zip(combos, starts, strict=False)
    ]
    return Chunk(first, combos, starts, fidx, sources, mix_spec)


def _mixture_records(
    cfg: dict,
    test: FeatureCache,
    classes: list[str | None],
    chunk: Chunk,
    j: int,
    estimates: np.ndarray,
    mixture: np.ndarray,
    masks: torch.Tensor,
    maps: np.ndarray | None,
) -> tuple[dict, tuple, dict]:
    """Mixture ``j`` of ``chunk``: its row (with localization when there are maps), its BSS Eval
    job and, for the first ``eval.save_predictions`` mixtures, its prediction files."""
    m, combo, count = chunk.first + j, chunk.combos[j], cfg["frames"]["count"]
    crop = crop_hw(cfg["frames"])
    sources = chunk.sources[j].numpy()
    row = {
        "mixture": m,
        "clips": "+".join(test.clip_ids[i] for i in combo),
        "classes": "+".join(classes[i] for i in combo),
    }
    if maps is not None:
        row.update(_localization(test, combo, [fi[count // 2] for fi in chunk.fidx[j]], maps, crop))
    saved = {}
    if m < cfg["eval"]["save_predictions"]:
        saved = _prediction(
            m,
            test,
            combo,
            chunk.starts[j],
            chunk.fidx[j],
            count,
            crop,
            sources,
            estimates,
            mixture,
            masks,
            maps,
        )
    return row, (sources, estimates, mixture), saved


def _summary(rows: list[dict], scores: list[dict | None], n_mix: int, localize: bool) -> dict:
    """BSS Eval over the scored mixtures (silent ones skipped) and, with ``localize``, the sound
    maps' scores with their chance levels; every row gets ``skipped`` and its scores."""
    for row, score in zip(rows, scores, strict=False):
        row["skipped"] = score is None
        row.update(score or {k: float("nan") for k in SEPARATION_KEYS})
    scored = [r for r in rows if not r["skipped"]]
    summary = summarize(scored, SEPARATION_KEYS)
    summary["n_mixtures"] = len(rows)
    summary["n_skipped"] = len(rows) - len(scored)
    summary["mix_n"] = n_mix
    if localize:
        loc = summarize(rows, LOCALIZATION_KEYS)
        summary.update({k: v for k, v in loc.items() if k != "n_clips"})
        if "box_share" in summary:  # (data without boxes: no localization scores)
            # chance levels: a random point lands in the box, and a uniform map puts its mass
            # there, with the box's share of the frame
            summary["pointing_accuracy_chance"] = summary["box_share"]
            summary["map_mass_in_box_chance"] = summary["box_share"]
    return summary


def _source_box(test: FeatureCache, i: int, frame: int, size_wh: tuple[int, int]) -> list[int] | None:
    """Clip ``i``'s instrument box in ``frame``, scaled to ``size_wh``; None on data without boxes
    (only the simulator's solo clips have them)."""
    meta = test.meta(i) or {}
    sources = meta.get("sources") or []
    boxes = sources[0].get("boxes") if len(sources) == 1 else None
    if not boxes:
        return None
    return scale_box(boxes[min(frame, len(boxes) - 1)], meta["frame_size"], size_wh)


def _localization(
    test: FeatureCache, combo, frames: list[int], maps: np.ndarray, crop: tuple[int, int]
) -> dict:
    """Pointing hit and mass in box of each source's sound map (upsampled to the frame the net
    saw), means over the mixture's sources, and the boxes' share of the frame; NaN (not scored)
    when a clip has no box."""
    h, w = crop
    up = (
        F.interpolate(torch.from_numpy(maps)[:, None], size=(h, w), mode="bilinear", align_corners=False)[
            :, 0
        ]
        .clamp_min(0)
        .numpy()
    )
    hits, mass, share = [], [], []
    for n, (i, f) in enumerate(zip(combo, frames, strict=False)):
        box = _source_box(test, i, f, (w, h))
        if box is None:
            return dict.fromkeys(LOCALIZATION_KEYS, math.nan)
        hits.append(float(pointing_hit(up[n], box)))
        mass.append(mass_in_box(up[n], box))
        share.append(box_share(box, (h, w)))
    return {
        "pointing_accuracy": float(np.mean(hits)),
        "map_mass_in_box": float(np.mean(mass)),
        "box_share": float(np.mean(share)),
    }


def _prediction(
    m: int,
    test: FeatureCache,
    combo,
    starts,
    fidx,
    count: int,
    crop,
    sources,
    estimates,
    mixture,
    masks: torch.Tensor,
    maps: np.ndarray | None,
) -> dict:
    """Files of one saved test mixture: wavs (mixture, true and estimated sources), the masks
    (linear axis) and sound maps as .npy, and a .json describing the clips."""
    h, w = crop
    key = f"mix{m:03d}"
    out = {f"{key}_mixture": mixture.astype(np.float32)}
    for n in range(len(combo)):
        out[f"{key}_true{n}"] = sources[n].astype(np.float32)
        out[f"{key}_est{n}"] = estimates[n].astype(np.float32)
    out[f"{key}_masks.npy"] = masks.numpy().astype(np.float32)
    if maps is not None:
        out[f"{key}_maps.npy"] = maps.astype(np.float32)
    out[f"{key}.json"] = {
        "clips": [test.clip_ids[i] for i in combo],
        "classes": [clip_class(test.meta(i)) for i in combo],
        "starts": [int(s) for s in starts],
        "frames": [int(fi[count // 2]) for fi in fidx],
        "crop_hw": [h, w],
        "boxes": [_source_box(test, i, fi[count // 2], (w, h)) for i, fi in zip(combo, fidx, strict=False)],
    }
    return out
