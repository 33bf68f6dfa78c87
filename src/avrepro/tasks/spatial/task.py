"""The spatial task: audio-visual correspondence (AVC) and spatial alignment (AVSA) from
first-order ambisonics and 360 video (Morgado, Li & Vasconcelos, NeurIPS 2020).

Training (self-supervised): K perspective crops of a clip's equirect frames and its FOA rotated
toward each crop's centre; ``objective: avc`` contrasts each crop with other clips' audio,
``objective: avsa`` also with the other crops of the same clip, through transformers over the
viewpoints. ``avsa_curriculum`` starts from the AVC run's trunks (``init_from``).
Evaluation (frozen trunks, :mod:`.downstream`): AVC-Bin, AVSA-Bin, an instrument-class linear
probe on the audio embeddings (``probe_accuracy``: which of the clip's instruments the audio is
turned toward; ``probe_class_accuracy``: the plain 8-way decision), and the viewpoint-alignment map; baselines ``chance`` (expected
accuracy of guessing) and ``random_backbone`` (randomly initialised trunks, evaluated the same
way, heads and probe trained the same way).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from avrepro.data.cache import FeatureCache
from avrepro.tasks.spatial.data import SpatialExamples
from avrepro.tasks.spatial.downstream import (alignment_matrices, alignment_scores, bin_embeddings,
                                              clip_decisions, probe_embeddings,
                                              ring_viewpoints, train_pair_classifier, train_probe,
                                              view360_sources)
from avrepro.metrics.summary import summarize
from avrepro.tasks.base import Task
from avrepro.tasks.spatial.figures import SPATIAL_FIGURES
from avrepro.tasks.spatial.losses import avc_loss, avsa_loss
from avrepro.tasks.spatial.model import SpatialModel

BASELINES = ("chance", "random_backbone")
METRIC_KEYS = ("avc_accuracy", "avsa_accuracy", "probe_accuracy", "probe_class_accuracy", "alignment_top1",
               "alignment_error")
TRUNKS = ("video.", "audio.")


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DistributedDataParallel / torch.compile wrappers."""
    for attr in ("module", "_orig_mod"):
        while hasattr(model, attr):
            model = getattr(model, attr)
    return model


def objective_of(cfg: dict, variant: str) -> str:
    """``cfg["objectives"][variant]``: ``avc`` or ``avsa``."""
    try:
        return cfg["objectives"][variant]
    except KeyError:
        raise KeyError(f"spatial.objectives has no entry for variant '{variant}' "
                       f"(known: {', '.join(sorted(cfg.get('objectives', {})))})") from None



def within_clip_hits(scores: torch.Tensor, labels: torch.Tensor, clips: torch.Tensor) -> np.ndarray:
    """Per probe row: is its class the best-scoring among the classes of its clip's sources?"""
    out = np.zeros(len(labels))
    for k in range(len(labels)):
        present = labels[clips == clips[k]].unique()
        out[k] = float(present[scores[k, present].argmax()] == labels[k])
    return out


def class_names(*caches: FeatureCache) -> list[str]:
    """Instrument names by class index, from the clips' 360-scene sources."""
    names: dict[int, str] = {}
    for cache in caches:
        for i in range(len(cache)):
            for s in view360_sources(cache, i):
                names.setdefault(int(s["class_index"]), s["class"])
    return [names.get(k, f"class {k}") for k in range(max(names) + 1)] if names else []


class SpatialTask(Task):
    """AVC / AVSA pre-training on the synthetic (or YouTube-360) ambisonic 360 clips."""

    name = "spatial"
    variants = ("avc", "avsa", "avsa_curriculum")
    baselines = BASELINES
    metric_keys = METRIC_KEYS
    figures = SPATIAL_FIGURES

    def baseline(self, name: str, cfg: dict, test: FeatureCache, *,
                 train: FeatureCache | None = None, progress: bool = True):
        return self.evaluate(None, cfg, test, name, train=train, progress=progress)

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.tasks.spatial.figures import make_figures

        return make_figures(cfg, test, models_dir, metrics_dir, predictions_dir, out_dir)

    def report_section(self, ctx) -> str:
        from avrepro.tasks.spatial.report import spatial_section

        return spatial_section(ctx)

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        return SpatialModel(cfg, objective_of(cfg, variant))

    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        return [{"params": list(model.parameters()), "lr": float(cfg["train"]["lr"])}]

    def init_from(self, model: nn.Module, state: dict) -> None:
        """Curriculum: take the trunks (``video.*``, ``audio.*``) of another run (AVC); the heads
        and transformers of this objective start fresh, as in the AVSA code."""
        want = {k for k in model.state_dict() if k.startswith(TRUNKS)}
        missing = sorted(want - set(state))
        if missing:
            raise ValueError(f"init checkpoint lacks the trunk weights {missing[:3]}... "
                             "(is it a spatial model with the same model.* settings?)")
        model.load_state_dict({k: v for k, v in state.items() if k in want}, strict=False)

    def datasets(self, cfg: dict, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        objective_of(cfg, variant)
        k = int(cfg["viewpoints"]["count"])
        return (SpatialExamples(train, cfg, seed, k, int(cfg["train"]["samples_per_clip"]), train=True),
                SpatialExamples(val, cfg, seed + 1, k, 2, train=False, fixed=True))

    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        out = model(batch["crops"], batch["foa"], batch["rot"])
        temperature = float(cfg["model"]["temperature"])
        if _unwrap(model).objective == "avc":
            return avc_loss(out["v"], out["a"], temperature)
        return avsa_loss(out, temperature)

    # -----------------------------------------------------------------------------------------

    def evaluate(self, model: nn.Module | None, cfg: dict, test: FeatureCache, name: str,
                 train: FeatureCache | None = None, progress: bool = True) -> tuple[dict, list[dict], dict]:
        """AVC-Bin, AVSA-Bin, probe and alignment on ``test``; heads and probe fit on ``train``
        (``eval.needs_train: true``). ``model=None``: the baseline ``name``."""
        ecfg = cfg["eval"]
        if train is None:
            raise ValueError("spatial evaluation fits its heads and probe on the training split: "
                             "pass the train cache (spatial.eval.needs_train: true)")
        if model is None:
            if name == "chance":
                return self._chance(cfg, test, train)
            if name != "random_backbone":
                raise ValueError(f"unknown spatial baseline '{name}' (known: {', '.join(BASELINES)})")
            torch.manual_seed(int(ecfg["seed"]))
            model = SpatialModel(cfg, "avc")
        model = _unwrap(model)
        model.eval()
        seed, use_tf = int(ecfg["seed"]), bool(ecfg["use_transformer"])
        emb_tr = bin_embeddings(model, train, cfg, seed, "train", int(ecfg["train_repeats"]), use_tf, progress)
        emb_te = bin_embeddings(model, test, cfg, seed, "test", int(ecfg["repeats"]), use_tf, progress)
        hcfg = ecfg["head"]
        avc_head = train_pair_classifier(emb_tr["video"], emb_tr["aligned"], emb_tr["other"], hcfg, seed)
        avsa_head = train_pair_classifier(emb_tr["video"], emb_tr["aligned"], emb_tr["yawed"], hcfg, seed + 1)
        avc = clip_decisions(avc_head, emb_te["video"], emb_te["aligned"], emb_te["other"])
        avsa = clip_decisions(avsa_head, emb_te["video"], emb_te["aligned"], emb_te["yawed"])

        pcfg = ecfg["probe"]
        n_classes = len(class_names(train, test))
        x_tr, y_tr, _ = probe_embeddings(model, train, cfg, seed, "train", int(pcfg["train_windows"]))
        x_te, y_te, c_te = probe_embeddings(model, test, cfg, seed, "test", int(pcfg["test_windows"]))
        probe = train_probe(x_tr, y_tr, n_classes, pcfg, seed)
        with torch.no_grad():
            scores = probe(x_te)
        hit_class = (scores.argmax(1) == y_te).float().numpy()
        hit = within_clip_hits(scores, y_te, c_te)

        m, fov = int(ecfg["alignment"]["viewpoints"]), float(ecfg["alignment"]["fov_deg"])
        keep = int(ecfg["save_predictions"])
        rows, predictions = [], {}
        sims = alignment_matrices(model, test, cfg, m, fov)
        for i in range(len(test)):
            sim = sims[i]
            top1, err = alignment_scores(sim)
            sel = (c_te == i).numpy()
            cid = test.clip_ids[i]
            rows.append({"clip_id": cid, "avc_accuracy": float(avc[i]), "avsa_accuracy": float(avsa[i]),
                         "probe_accuracy": float(hit[sel].mean()) if sel.any() else math.nan,
                         "probe_class_accuracy": float(hit_class[sel].mean()) if sel.any() else math.nan,
                         "alignment_top1": top1, "alignment_error": err, "n_sources": int(sel.sum())})
            if i < keep:
                predictions[f"alignment_{cid}.npy"] = sim.astype(np.float32)
                predictions[f"alignment_{cid}.json"] = self._alignment_meta(test, i, m, fov)
        summary = summarize(rows, METRIC_KEYS)
        summary["objective"] = model.objective if name != "random_backbone" else "none (random init)"
        summary["video_side"] = "transformer audio prediction" if use_tf and model.has_transformer \
            else "video embedding"
        return summary, rows, predictions

    @staticmethod
    def _alignment_meta(test: FeatureCache, i: int, m: int, fov: float) -> dict:
        return {"clip_id": test.clip_ids[i], "yaw_deg": [vp.yaw_deg for vp in ring_viewpoints(m, fov)],
                "fov_deg": fov, "rows": "video viewpoint", "columns": "audio rotated toward viewpoint",
                "sources": [{"class": s["class"], "azimuth_deg": s["azimuth_deg"],
                             "elevation_deg": s["elevation_deg"], "in_pinhole_view": s["in_pinhole_view"]}
                            for s in view360_sources(test, i)]}

    def _chance(self, cfg: dict, test: FeatureCache, train: FeatureCache) -> tuple[dict, list[dict], dict]:
        """Expected accuracy of guessing: 0.5 for the binary tasks, one of the clip's instruments
        for the probe (the most frequent training class for the 8-way probe), a uniformly random
        viewpoint for the alignment."""
        names = class_names(train, test)
        counts = np.bincount([int(s["class_index"]) for i in range(len(train)) for s in view360_sources(train, i)],
                             minlength=len(names))
        majority = int(np.argmax(counts))
        m = int(cfg["eval"]["alignment"]["viewpoints"])
        d = np.arange(m)
        rand_err = float(np.mean(np.minimum(d, m - d) * 360.0 / m))
        rows = []
        for i in range(len(test)):
            labels = [int(s["class_index"]) for s in view360_sources(test, i)]
            rows.append({"clip_id": test.clip_ids[i], "avc_accuracy": 0.5, "avsa_accuracy": 0.5,
                         "probe_accuracy": 1.0 / len(set(labels)),
                         "probe_class_accuracy": float(np.mean([c == majority for c in labels])),
                         "alignment_top1": 1.0 / m, "alignment_error": rand_err,
                         "n_sources": len(labels)})
        summary = summarize(rows, METRIC_KEYS)
        summary["note"] = (f"expected accuracy of guessing: 0.5 for AVC/AVSA-Bin, one of the clip's "
                           f"instruments at random for the probe, the most frequent training class "
                           f"({names[majority]}) for the 8-way probe, 1/{m} for the alignment")
        return summary, rows, {}
