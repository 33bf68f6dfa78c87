"""The sync task: is the audio in sync with the video? (Owens & Efros, ECCV 2018).

Training sees every clip's video window with its aligned audio (label 0) and the same clip's
audio shifted in time (label 1); the loss is the binary cross-entropy of both. Evaluation scores a
fixed, seeded set of window pairs per test clip, each used both ways (video of window A with
audio A and B, video of B with audio B and A), so that every test audio window is once aligned
and once shifted and no audio-only cue can score above chance; it reports accuracy with a 95 %
confidence interval over clips, accuracy by shift size, and the class-activation map of the
aligned track against the true source boxes (CAM mass in the boxes, pointing game, the boxes'
share of the frame as chance).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from avrepro.data.cache import FeatureCache
from avrepro.tasks.sync.cam import heatmap, localization, upsample, window_boxes
from avrepro.tasks.sync.data import SyncExamples, eval_pairs, geometry, make_example
from avrepro.metrics.summary import summarize, t_interval
from avrepro.tasks.base import Task
from avrepro.tasks.sync.figures import FIGURES
from avrepro.tasks.sync.model import VARIANTS, SyncNet, build_model

BASELINES = ("chance",)
# CAM of the aligned track; "contrast": |CAM(aligned) - CAM(shifted)|, the part of the map that
# depends on the audio (zero for a net that ignores the audio, whatever it sees)
LOC_KEYS = ("map_mass_in_box", "raw_mass_in_box", "pointing_accuracy", "box_share",
            "contrast_mass_in_box", "contrast_pointing_accuracy")
CLIP_KEYS = ("accuracy", "pair_accuracy", "accuracy_aligned", "accuracy_shifted", "margin") + LOC_KEYS



def accuracy_by_shift(records: list[dict]) -> dict:
    """Accuracy per shift magnitude from per-example records (one row per |shift| in seconds):
    both decisions of a pair, the shifted track's alone, and the pair ranking."""
    pairs: dict[float, list[dict]] = {}
    for r in records:
        pairs.setdefault(round(abs(r["shift_s"]), 3), []).append(r)
    rows = []
    for shift in sorted(pairs):
        rs = pairs[shift]
        rows.append({"shift_s": shift, "n_pairs": len(rs),
                     "accuracy": float(np.mean([(r["logit_aligned"] <= 0) + (r["logit_shifted"] > 0)
                                                for r in rs]) / 2),
                     "accuracy_shifted": float(np.mean([r["logit_shifted"] > 0 for r in rs])),
                     "pair_accuracy": float(np.mean([r["logit_shifted"] > r["logit_aligned"] for r in rs]))})
    return {"rows": rows}


class SyncTask(Task):
    """Multisensory-style audio-visual synchronisation with CAMs and shortcut variants."""

    name = "sync"
    variants = VARIANTS
    shortcut_variants = ("audio_only", "video_only")
    baselines = BASELINES
    metric_keys = CLIP_KEYS
    figures = FIGURES

    def baseline(self, name: str, cfg: dict, test: FeatureCache, *,
                 train: FeatureCache | None = None, progress: bool = True):
        return self.evaluate(None, cfg, test, name, train=train, progress=progress)

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.tasks.sync.figures import make_figures

        return make_figures(cfg, test, models_dir, metrics_dir, predictions_dir, out_dir)

    def report_section(self, ctx) -> str:
        from avrepro.tasks.sync.report import sync_section

        return sync_section(ctx)

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        return build_model(variant, cfg["model"])

    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        return model.param_groups(cfg["train"]["lr"], cfg["train"]["weight_decay"])

    def datasets(self, cfg, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        return (SyncExamples(train, cfg, seed, cfg["train"]["examples_per_clip"], train=True),
                SyncExamples(val, cfg, seed + 1, cfg["train"]["val_examples_per_clip"], train=False,
                             fixed=True))

    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        logits = model(batch["frames"], batch["audio"]).float()
        labels = batch["label"]
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        accuracy = ((logits.detach() > 0).float() == labels).float().mean()  # logged, not trained
        return {"loss": loss, "accuracy": accuracy}

    @torch.no_grad()
    def _scores(self, model: SyncNet | None, examples: list[dict], batch_size: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits ``(E, 2)`` and CAMs ``(E, 2, T, h, w)`` of a clip's examples; for the chance
        baseline random logits and no CAM."""
        if model is None:
            return rng.standard_normal((len(examples), 2)), None
        device = next(model.parameters()).device
        logits, cams = [], []
        for b in range(0, len(examples), batch_size):
            chunk = examples[b:b + batch_size]
            frames = torch.stack([e["frames"] for e in chunk]).to(device)
            audio = torch.stack([e["audio"] for e in chunk]).to(device)
            lg, cam = model(frames, audio, cam=True)
            logits.append(lg.float().cpu().numpy())
            cams.append(cam.float().cpu().numpy())
        return np.concatenate(logits).astype(np.float64), np.concatenate(cams)

    def evaluate(self, model: nn.Module | None, cfg: dict, test: FeatureCache, name: str,
                 train: FeatureCache | None = None, progress: bool = True) -> tuple[dict, list[dict], dict]:
        """Evaluate a trained variant (``model``) or the ``chance`` baseline (``model=None``:
        random logits, a random heat map)."""
        if model is None and name not in BASELINES:
            raise ValueError(f"unknown sync baseline '{name}' (known: {', '.join(BASELINES)})")
        if model is not None:
            model.eval()
        ecfg, scfg = cfg["eval"], cfg["sample"]
        rng = np.random.default_rng([ecfg["seed"], 7])
        w, h = test.frame_size
        rows, records, kept = [], [], {}
        for i in tqdm(range(len(test)), desc=f"evaluate sync {name}", disable=not progress):
            geo = geometry(scfg, test, i)
            pairs = eval_pairs(test, i, scfg, ecfg["pairs_per_clip"], ecfg["seed"])
            examples = [make_example(test, i, scfg, geo, p) for p in pairs]
            logits, cams = self._scores(model, examples, ecfg["batch_size"], rng)
            meta = test.meta(i) or {}
            loc = []
            for e, (v, o) in enumerate(pairs):
                boxes = window_boxes(meta, v, geo.frames, (w, h)) if meta else []
                if cams is None:  # chance: a random map for both
                    heat = contrast = rng.random((h, w))
                else:
                    heat = upsample(heatmap(cams[e, 0]), (h, w))
                    contrast = upsample(heatmap(cams[e, 0] - cams[e, 1]), (h, w))
                scores = localization(heat, boxes)
                extra = localization(contrast, boxes)
                scores.update({"contrast_mass_in_box": extra["map_mass_in_box"],
                               "contrast_pointing_accuracy": extra["pointing_accuracy"]})
                loc.append(scores)
                records.append({"clip_id": test.clip_ids[i], "video_start": v, "shift_s": (o - v) / test.fps,
                                "logit_aligned": float(logits[e, 0]), "logit_shifted": float(logits[e, 1])})
            correct = np.stack([logits[:, 0] <= 0, logits[:, 1] > 0], axis=1)
            row = {"clip_id": test.clip_ids[i], "n_sources": len(meta.get("sources", [])),
                   "n_pairs": len(pairs),
                   "accuracy": float(correct.mean()),
                   "pair_accuracy": float(np.mean(logits[:, 1] > logits[:, 0])),
                   "accuracy_aligned": float(correct[:, 0].mean()),
                   "accuracy_shifted": float(correct[:, 1].mean()),
                   "margin": float(np.mean(logits[:, 1] - logits[:, 0]))}
            for key in LOC_KEYS:
                row[key] = float(np.nanmean([s[key] for s in loc])) if any(
                    math.isfinite(s[key]) for s in loc) else float("nan")
            rows.append(row)
            if cams is not None:
                kept[test.clip_ids[i]] = (pairs[0][0], cams[0].astype(np.float32), loc[0])
        summary = summarize(rows, CLIP_KEYS)
        summary.update(t_interval(summary, "accuracy", len(rows)))
        summary["n_examples"] = 2 * len(records)
        predictions = {"examples.json": records, "accuracy_by_shift.json": accuracy_by_shift(records)}
        if kept:
            order = sorted(range(len(rows)), key=lambda r: (rows[r]["accuracy"], rows[r]["margin"]))
            chosen = {"best": rows[order[-1]]["clip_id"], "worst": rows[order[0]]["clip_id"]}
            index = {}
            for role, clip in chosen.items():
                start, cam, shown = kept[clip]  # the clip's first test window
                pos = test.position(clip)
                geo, row = geometry(scfg, test, pos), rows[pos]
                predictions[f"cam_{clip}.npy"] = cam  # (2, T, h, w): with the aligned, shifted track
                index[role] = {"clip_id": clip, "file": f"cam_{clip}.npy", "video_start": int(start),
                               "frames": geo.frames, "audio_start": int(round(start * geo.samples_per_frame)),
                               "audio_samples": geo.samples, "accuracy": row["accuracy"],
                               "map_mass_in_box": shown["map_mass_in_box"],
                               "contrast_mass_in_box": shown["contrast_mass_in_box"]}
            predictions["cams.json"] = index
        return summary, rows, predictions
