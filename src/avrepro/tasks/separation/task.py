"""The separation task (The Sound of Pixels): mix-and-separate training, BSS Eval, sound maps.

Training mixes N solo clips of different classes and learns, for each clip's frames, a mask on
the mixture's log-frequency spectrogram (binary mask + weighted BCE, or ratio mask + L1).
Evaluation follows the official code: masks unwarped to the linear axis, thresholded at 0.5
(binary), applied to |mix| with the mixture's phase, iSTFT, then BSS Eval per test mixture;
plus localization: the sound maps of each clip's frame scored against its true box.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from avrepro.data.cache import FeatureCache
from avrepro.metrics.localization import box_share, mass_in_box, pointing_hit, scale_box
from avrepro.metrics.separation import one_blas_thread, score_mixtures
from avrepro.metrics.summary import summarize
from avrepro.tasks.base import Task
from avrepro.tasks.separation import spectral
from avrepro.tasks.separation.figures import FIGURES
from avrepro.tasks.separation.baselines import BASELINES, NMFBases, blind_nmf_masks, ideal_masks
from avrepro.tasks.separation.data import (SeparationMixes, centre_start, clip_classes, crop_hw,
                                           frame_indices, read_window, eval_frames, evaluation_mixtures,
                                           usable_clips)
from avrepro.tasks.separation.model import VARIANTS, PixelPlayer, build_model

SEPARATION_KEYS = ("sdr", "sir", "sar", "sdr_mixture")
LOCALIZATION_KEYS = ("pointing_accuracy", "map_mass_in_box", "box_share")


def mask_kind(variant: str) -> str:
    """The mask a variant predicts: its name (``binary`` | ``ratio``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown separation variant '{variant}' (known: {', '.join(VARIANTS)})")
    return variant


def eval_workers(ecfg: dict) -> int:
    """BSS Eval processes: ``eval.workers``, or with ``auto`` the torch threads this run got."""
    setting = ecfg["workers"]
    return max(1, torch.get_num_threads() if setting == "auto" else int(setting))


class SeparationTask(Task):
    """PixelPlayer on mixtures of solo clips; BSS Eval and localization on fixed test mixtures."""

    name = "separation"
    variants = VARIANTS
    baselines = BASELINES
    metric_keys = ("sdr", "sir", "sar", "sdr_mixture", "pointing_accuracy", "map_mass_in_box",
                   "box_share")
    figures = FIGURES

    def baseline(self, name: str, cfg: dict, test: FeatureCache, *,
                 train: FeatureCache | None = None, progress: bool = True):
        return self.evaluate(None, cfg, test, name, train=train, progress=progress)

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.tasks.separation.figures import make_figures

        return make_figures(cfg, test, models_dir, metrics_dir, predictions_dir, out_dir)

    def report_section(self, ctx) -> str:
        from avrepro.tasks.separation.report import separation_section

        return separation_section(ctx)

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        return build_model(variant, cfg["model"])

    def param_groups(self, model: PixelPlayer, cfg: dict) -> list[dict]:
        t = cfg["train"]
        return model.param_groups(t["lr_frame"], t["lr_sound"], t["lr_synthesizer"])

    def datasets(self, cfg: dict, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        mask_kind(variant)
        t = cfg["train"]
        per_epoch = len(usable_clips(train, cfg["mix"]["n"])[0]) * t["mixes_per_clip"]
        return (SeparationMixes(train, cfg, seed, per_epoch, train=True),
                SeparationMixes(val, cfg, seed + 1, t["val_mixes"], train=False, fixed=True))

    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        kind = _unwrap(model).mask_kind
        prep = spectral.prepare(batch["audio"], cfg["audio"])
        target, weight = spectral.mask_targets(prep["mags"], prep["mag_mix"], kind, cfg["loss"])
        logits = model(prep["log_mag"], batch["frames"])
        return {"loss": spectral.mask_loss(logits, target, weight, kind)}

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, model: nn.Module | None, cfg: dict, test: FeatureCache, name: str,
                 train: FeatureCache | None = None, progress: bool = True
                 ) -> tuple[dict, list[dict], dict]:
        """Evaluate a trained variant (``model``) or a baseline (``model=None``: ``name`` in
        mixture | nmf | nmf_supervised | ibm | irm) on the fixed list of test mixtures."""
        if model is None and name not in BASELINES:
            raise ValueError(f"unknown separation baseline '{name}' (known: {', '.join(BASELINES)})")
        acfg, ecfg, n_mix = cfg["audio"], cfg["eval"], cfg["mix"]["n"]
        length = acfg["window"]
        t0 = time.perf_counter()
        nmf = None
        if model is None and name == "nmf_supervised":
            if train is None:
                raise ValueError("the nmf_supervised baseline learns its bases on the train split: set "
                                 "separation.eval.needs_train: true")
            with one_blas_thread():
                nmf = NMFBases(train, acfg, ecfg["nmf"], seed=ecfg["seed"])
        if model is not None:
            model.eval()
            kind = mask_kind(name)
            device = next(model.parameters()).device
        else:
            kind, device = name, torch.device("cpu")
        combos = evaluation_mixtures(test, n_mix, ecfg["mixtures"], length, ecfg["seed"])
        classes = clip_classes(test)
        count, stride = cfg["frames"]["count"], cfg["frames"]["stride_seconds"]
        crop = crop_hw(cfg)
        rows, jobs, predictions = [], [], {}
        batch = ecfg["batch_size"]
        for b0 in tqdm(range(0, len(combos), batch), desc=f"separation {name}", disable=not progress):
            chunk = combos[b0:b0 + batch]
            starts = [[centre_start(test, i, length) for i in combo] for combo in chunk]
            sources = torch.from_numpy(np.stack([
                np.stack([read_window(test, i, s, length) for i, s in zip(combo, st)]) / n_mix
                for combo, st in zip(chunk, starts)]).astype(np.float32))  # (b, N, L)
            mix = sources.sum(dim=1)
            mix_spec = spectral.spec(mix, acfg)  # (b, F, T)
            fidx = [[frame_indices((s + length / 2) / test.sample_rate, test.fps,
                                   len(test.frames(i)), count, stride) for i, s in zip(combo, st)]
                    for combo, st in zip(chunk, starts)]
            maps = None
            if model is not None:
                frames = torch.stack([torch.stack([eval_frames(test.frames(i)[f], crop)
                                                   for i, f in zip(combo, fi)])
                                      for combo, fi in zip(chunk, fidx)])
                soft, maps = _model_masks(model, sources.to(device), frames.to(device), acfg)
                masks = (soft > ecfg["mask_threshold"]).float() if kind == "binary" else soft
            elif name == "mixture":
                masks = torch.ones(len(chunk), n_mix, *mix_spec.shape[1:])
            elif name == "nmf_supervised":
                with one_blas_thread():
                    masks = torch.from_numpy(np.stack([
                        nmf.masks(mix_spec[j].abs().numpy(), [classes[i] for i in combo])
                        for j, combo in enumerate(chunk)]).astype(np.float32))
            elif name == "nmf":
                true_mags = spectral.spec(sources, acfg).abs().numpy()
                with one_blas_thread():
                    masks = torch.from_numpy(np.stack([
                        blind_nmf_masks(mix_spec[j].abs().numpy(), true_mags[j], test.sample_rate,
                                        ecfg["nmf"], seed=ecfg["seed"])
                        for j in range(len(chunk))]).astype(np.float32))
            else:
                masks = ideal_masks(sources, name, acfg)
            estimates = spectral.apply_masks(masks.cpu(), mix_spec, acfg, length).numpy()
            mixture = spectral.waveform(mix_spec, acfg, length).numpy()
            for j, combo in enumerate(chunk):
                m = b0 + j
                row = {"mixture": m, "clips": "+".join(test.clip_ids[i] for i in combo),
                       "classes": "+".join(classes[i] for i in combo)}
                if maps is not None:
                    row.update(_localization(test, combo, [fi[count // 2] for fi in fidx[j]],
                                             maps[j], crop))
                rows.append(row)
                jobs.append((sources[j].numpy(), estimates[j], mixture[j]))
                if m < ecfg["save_predictions"]:
                    predictions.update(_prediction(m, test, combo, starts[j], fidx[j], count, crop,
                                                   sources[j].numpy(), estimates[j], mixture[j],
                                                   masks[j], maps[j] if maps is not None else None))
        t1 = time.perf_counter()
        workers = eval_workers(ecfg)
        scores = score_mixtures(jobs, workers)
        t2 = time.perf_counter()
        for row, score in zip(rows, scores):
            row["skipped"] = score is None
            row.update(score or {k: float("nan") for k in SEPARATION_KEYS})
        scored = [r for r in rows if not r["skipped"]]
        summary = summarize(scored, SEPARATION_KEYS)
        summary["n_mixtures"] = len(rows)
        summary["n_skipped"] = len(rows) - len(scored)
        summary["mix_n"] = n_mix
        if model is not None:
            loc = summarize(rows, LOCALIZATION_KEYS)
            summary.update({k: v for k, v in loc.items() if k != "n_clips"})
            # chance levels: a random point lands in the box, and a uniform map puts its mass
            # there, with the box's share of the frame
            summary["pointing_accuracy_chance"] = summary["box_share"]
            summary["map_mass_in_box_chance"] = summary["box_share"]
        print(f"separation {name}: {len(rows)} test mixtures ({summary['n_skipped']} skipped as "
              f"silent); estimates {t1 - t0:.1f} s, BSS Eval {t2 - t1:.1f} s on {workers} "
              f"process(es)", file=sys.stderr, flush=True)
        return summary, rows, predictions


def _unwrap(model: nn.Module) -> PixelPlayer:
    """The PixelPlayer inside a DDP and/or torch.compile wrapper."""
    while not isinstance(model, PixelPlayer):
        model = getattr(model, "_orig_mod", None) or getattr(model, "module")
    return model


@torch.no_grad()
def _model_masks(model: PixelPlayer, sources: torch.Tensor, frames: torch.Tensor, acfg: dict
                 ) -> tuple[torch.Tensor, np.ndarray]:
    """Soft masks on the linear axis ``(b, N, F, T)`` (CPU) and sound maps ``(b, N, h, w)``."""
    prep = spectral.prepare(sources, acfg)
    logits = model(prep["log_mag"], frames)
    soft = spectral.to_linear(torch.sigmoid(logits.float()), acfg)
    maps = model.sound_maps(prep["log_mag"], prep["mag_mix"], frames)
    return soft.cpu(), maps.float().cpu().numpy()


def _source_box(test: FeatureCache, i: int, frame: int, size_wh: tuple[int, int]) -> list[int]:
    meta = test.meta(i)
    boxes = meta["sources"][0]["boxes"]
    return scale_box(boxes[min(frame, len(boxes) - 1)], meta["frame_size"], size_wh)


def _localization(test: FeatureCache, combo, frames: list[int], maps: np.ndarray,
                  crop: tuple[int, int]) -> dict:
    """Pointing hit and mass in box of each source's sound map (upsampled to the frame the net
    saw), means over the mixture's sources, and the boxes' share of the frame."""
    h, w = crop
    up = F.interpolate(torch.from_numpy(maps)[:, None], size=(h, w), mode="bilinear",
                       align_corners=False)[:, 0].clamp_min(0).numpy()
    hits, mass, share = [], [], []
    for n, (i, f) in enumerate(zip(combo, frames)):
        box = _source_box(test, i, f, (w, h))
        hits.append(float(pointing_hit(up[n], box)))
        mass.append(mass_in_box(up[n], box))
        share.append(box_share(box, (h, w)))
    return {"pointing_accuracy": float(np.mean(hits)), "map_mass_in_box": float(np.mean(mass)),
            "box_share": float(np.mean(share))}


def _prediction(m: int, test: FeatureCache, combo, starts, fidx, count: int, crop, sources, estimates,
                mixture, masks: torch.Tensor, maps: np.ndarray | None) -> dict:
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
        "classes": [test.meta(i)["sources"][0]["class"] if test.meta(i) else None for i in combo],
        "starts": [int(s) for s in starts], "frames": [int(fi[count // 2]) for fi in fidx],
        "crop_hw": [h, w],
        "boxes": [_source_box(test, i, fi[count // 2], (w, h)) for i, fi in zip(combo, fidx)],
    }
    return out
