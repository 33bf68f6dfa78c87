"""The separation task (The Sound of Pixels): mix-and-separate training, BSS Eval, sound maps.

Training mixes N solo clips of different classes and learns, for each clip's frames, a mask on
the mixture's log-frequency spectrogram (binary mask + weighted BCE, or ratio mask + L1:
:mod:`.losses`). Evaluation follows the official code (:mod:`.evaluate`): masks unwarped to the
linear axis, thresholded at 0.5 (binary), applied to |mix| with the mixture's phase, iSTFT,
then BSS Eval per test mixture; plus localization: the sound maps of each clip's frame scored
against its true box. Baselines (:mod:`.baselines`) run through the same evaluation.
"""

from __future__ import annotations

import torch
from torch import nn

from avrepro.data.cache import FeatureCache
from avrepro.tasks.base import Evaluation, Task
from avrepro.tasks.separation import names
from avrepro.tasks.separation.baselines import evaluate_baseline
from avrepro.tasks.separation.data import mix_datasets
from avrepro.tasks.separation.evaluate import evaluate_model
from avrepro.tasks.separation.losses import separation_losses
from avrepro.tasks.separation.model import PixelPlayer, build_model, mask_kind


class SeparationTask(Task):
    """PixelPlayer on mixtures of solo clips; BSS Eval and localization on fixed test mixtures."""

    name = "separation"
    variants = names.VARIANTS
    shortcut_variants = names.SHORTCUT_VARIANTS
    controls = names.CONTROLS
    simulator_needs = names.SIMULATOR_NEEDS
    baselines = names.BASELINES
    metric_keys = names.METRIC_KEYS
    figures = names.FIGURES
    primary_metric = ("sdr", "max")

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        return build_model(variant, **cfg["model"])

    def param_groups(self, model: PixelPlayer, cfg: dict) -> list[dict]:
        t = cfg["train"]
        return model.param_groups(t["lr_frame"], t["lr_sound"], t["lr_synthesizer"])

    def datasets(self, cfg: dict, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        mask_kind(variant)
        return mix_datasets(cfg, train, val, seed)

    def losses(self, model: PixelPlayer, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        return separation_losses(model, batch, cfg)

    def evaluate(
        self,
        model: PixelPlayer,
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
        return evaluate_baseline(name, cfg, test, train=train, progress=progress)

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.tasks.separation.figures import make_figures

        return make_figures(cfg, test, models_dir, metrics_dir, predictions_dir, out_dir)

    def report_section(self, ctx) -> str:
        from avrepro.tasks.separation.report import separation_section

        return separation_section(ctx)

    def infer(self, model: PixelPlayer, cfg: dict, args, *, progress: bool = True) -> dict:
        from avrepro.tasks.separation.infer import infer

        return infer(model, cfg, args, progress=progress)

    def demo(
        self, model: PixelPlayer, cfg: dict, clips: list[dict], out_dir, *, progress: bool = True
    ) -> dict:
        from avrepro.tasks.separation.infer import demo

        return demo(model, cfg, clips, out_dir, progress=progress)
