"""The binaural task (Mono2Binaural / geometry-aware training, the official sliding-window
evaluation): the contract's methods, each delegating to the package's modules."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from avrepro.data.cache import FeatureCache
from avrepro.tasks.base import Evaluation, Task
from avrepro.tasks.binaural.baselines import evaluate_baseline
from avrepro.tasks.binaural.data import spec_ft, window_datasets
from avrepro.tasks.binaural.evaluate import evaluate_model
from avrepro.tasks.binaural.infer import binauralize_video, demo_clips
from avrepro.tasks.binaural.losses import step_losses
from avrepro.tasks.binaural.model import build_model, variant_parts
from avrepro.tasks.binaural.names import (
    BASELINES,
    CONTROLS,
    FIGURES,
    METRIC_KEYS,
    SHORTCUT_VARIANTS,
    SIMULATOR_NEEDS,
    SIMULATOR_ONLY,
    VARIANTS,
)
from avrepro.tasks.binaural.rir import rir_shape
from avrepro.video.crop import crop_hw


class BinauralTask(Task):
    """Mono2Binaural / geometry-aware training and the official sliding-window evaluation."""

    name = "binaural"
    variants = VARIANTS
    shortcut_variants = SHORTCUT_VARIANTS
    simulator_needs = SIMULATOR_NEEDS
    simulator_only = SIMULATOR_ONLY
    controls = CONTROLS
    baselines = BASELINES
    metric_keys = METRIC_KEYS
    figures = FIGURES
    primary_metric = ("stft_distance", "min")

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        m = cfg["model"]
        return build_model(
            variant,
            crop_hw(cfg["frames"]),
            ngf=m["ngf"],
            visual_channels=m["visual_channels"],
            weights=m["weights"],
            coherence_ngf=m.get("coherence_ngf", m["ngf"]),
            spec_ft=spec_ft(cfg["audio"], cfg["features"]["sample_rate"]),
            rir_shape=rir_shape(cfg["rir"]) if "rir" in cfg else None,
            without=tuple(cfg.get("without") or ()),
        )

    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        t = cfg["train"]
        return model.param_groups(t["lr_visual"], t["lr_audio"], t["lr_heads"])

    def datasets(self, cfg: dict, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        parts = variant_parts(variant)
        rir = parts.rir and "rir" not in (cfg.get("without") or ())
        return window_datasets(cfg, train, val, seed, blank_frame=parts.blank_frame, rir=rir)

    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        return step_losses(model, batch, cfg)

    def evaluate(
        self,
        model: nn.Module,
        cfg: dict,
        test: FeatureCache,
        name: str,
        *,
        train: FeatureCache | None = None,
        progress: bool = True,
    ) -> Evaluation:
        return evaluate_model(model, cfg, test, name, progress=progress)

    def baseline(
        self,
        name: str,
        cfg: dict,
        test: FeatureCache,
        *,
        train: FeatureCache | None = None,
        progress: bool = True,
    ) -> Evaluation:
        return evaluate_baseline(name, cfg, test, progress=progress)

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.tasks.binaural.figures import make_figures  # matplotlib: only when drawing

        return make_figures(cfg, test, models_dir, metrics_dir, predictions_dir, out_dir)

    def report_section(self, ctx) -> str:
        from avrepro.tasks.binaural.report import binaural_section

        return binaural_section(ctx)

    def infer(self, model: nn.Module, cfg: dict, args: argparse.Namespace, *, progress: bool = True) -> dict:
        audio = Path(args.audio) if args.audio else None
        return binauralize_video(
            model, cfg, Path(args.video), Path(args.out), audio, wav_only=args.wav_only, progress=progress
        )

    def demo(
        self, model: nn.Module, cfg: dict, clips: list[dict], out_dir: Path, *, progress: bool = True
    ) -> dict:
        return demo_clips(model, cfg, clips, out_dir, progress=progress)
