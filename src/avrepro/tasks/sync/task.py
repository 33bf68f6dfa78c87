"""The sync task: is the audio in sync with the video? (Owens & Efros, ECCV 2018).

Training sees every clip's video window with its aligned audio (label 0) and the same clip's
audio shifted in time (label 1); the loss is the binary cross-entropy of both (:mod:`.losses`).
Evaluation (:mod:`.evaluate`) scores fixed window pairs used both ways, so that no audio-only cue
can score above chance, and the class-activation maps against the true source boxes.
"""

from __future__ import annotations

import torch
from torch import nn

from avrepro.data.cache import FeatureCache
from avrepro.tasks.base import Evaluation, Task
from avrepro.tasks.sync import names
from avrepro.tasks.sync.baselines import run_baseline
from avrepro.tasks.sync.data import SyncExamples
from avrepro.tasks.sync.evaluate import evaluate_model
from avrepro.tasks.sync.losses import sync_losses
from avrepro.tasks.sync.model import build_model


class SyncTask(Task):
    """Multisensory-style audio-visual synchronisation with CAMs and shortcut variants."""

    name = "sync"
    variants = names.VARIANTS
    shortcut_variants = names.SHORTCUT_VARIANTS
    controls = names.CONTROLS
    simulator_needs = names.SIMULATOR_NEEDS
    baselines = names.BASELINES
    metric_keys = names.METRIC_KEYS
    figures = names.FIGURES
    primary_metric = ("accuracy", "max")

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        m = cfg["model"]
        return build_model(
            variant,
            audio_widths=m["audio_widths"],
            audio_kernels=m["audio_kernels"],
            audio_strides=m["audio_strides"],
            video_widths=m["video_widths"],
            conv1_kernel=m["conv1_kernel"],
            time_strides=m["time_strides"],
            space_strides=m["space_strides"],
            fusion_audio=m["fusion_audio"],
            fusion_hidden=m["fusion_hidden"],
            blocks=m["blocks"],
        )

    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        return model.param_groups(cfg["train"]["lr"], cfg["train"]["weight_decay"])

    def datasets(self, cfg, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        t = cfg["train"]
        return (
            SyncExamples(train, cfg, seed, t["examples_per_clip"], train=True),
            SyncExamples(val, cfg, seed + 1, t["val_examples_per_clip"], train=False, fixed=True),
        )

    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        return sync_losses(model(batch["frames"], batch["audio"]).float(), batch["label"])

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
        return evaluate_model(model, cfg, test, name, progress)

    def baseline(
        self,
        name: str,
        cfg: dict,
        test: FeatureCache,
        *,
        train: FeatureCache | None = None,
        progress: bool = True,
    ) -> Evaluation:
        return run_baseline(name, cfg, test, train=train, progress=progress)

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.tasks.sync.figures import make_figures

        return make_figures(cfg, test, models_dir, metrics_dir, predictions_dir, out_dir)

    def report_section(self, ctx) -> str:
        from avrepro.tasks.sync.report import sync_section

        return sync_section(ctx)

    def infer(self, model: nn.Module, cfg: dict, args, *, progress: bool = True) -> dict:
        from avrepro.tasks.sync.infer import infer_sync

        return infer_sync(model, cfg, args, progress)

    def demo(self, model: nn.Module, cfg: dict, clips: list[dict], out_dir, *, progress: bool = True) -> dict:
        from avrepro.tasks.sync.infer import demo_sync

        return demo_sync(model, cfg, clips, out_dir, progress)
