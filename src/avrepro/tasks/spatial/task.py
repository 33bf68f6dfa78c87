"""The spatial task: audio-visual correspondence (AVC) and spatial alignment (AVSA) from
first-order ambisonics and 360 video (Morgado, Li & Vasconcelos, NeurIPS 2020).

Training (self-supervised): K perspective crops of a clip's equirect frames and its FOA rotated
toward each crop's centre; ``objective: avc`` contrasts each crop with other clips' audio,
``objective: avsa`` also with the other crops of the same clip, through transformers over the
viewpoints (``spatial.objectives`` gives each variant its objective). ``avsa_curriculum`` starts
from the AVC run's trunks (``init_from``).
Evaluation (frozen trunks, :mod:`.evaluate` with the pieces of :mod:`.downstream`): AVC-Bin,
AVSA-Bin, an instrument-class linear probe on the audio embeddings (``probe_accuracy``: which of
the clip's instruments the audio is turned toward; ``probe_class_accuracy``: the plain 8-way
decision), and the viewpoint-alignment map; baselines (:mod:`.baselines`) ``chance`` (expected
accuracy of guessing) and ``random_backbone`` (randomly initialised trunks, evaluated the same
way, heads and probe trained the same way).
"""

from __future__ import annotations

import torch
from torch import nn

from avrepro.data.cache import FeatureCache
from avrepro.tasks.base import Evaluation, Task
from avrepro.tasks.spatial import names
from avrepro.tasks.spatial.baselines import run_baseline
from avrepro.tasks.spatial.data import SpatialExamples
from avrepro.tasks.spatial.evaluate import evaluate_model
from avrepro.tasks.spatial.losses import objective_losses
from avrepro.tasks.spatial.model import TRUNKS, LogMel, SpatialModel


def objective_of(cfg: dict, variant: str) -> str:
    """``cfg["objectives"][variant]``: ``avc`` or ``avsa``."""
    try:
        return cfg["objectives"][variant]
    except KeyError:
        raise KeyError(
            f"spatial.objectives has no entry for variant '{variant}' "
            f"(known: {', '.join(sorted(cfg.get('objectives', {})))})"
        ) from None


class SpatialTask(Task):
    """AVC / AVSA pre-training on the synthetic (or YouTube-360) ambisonic 360 clips."""

    name = "spatial"
    variants = names.VARIANTS
    shortcut_variants = names.SHORTCUT_VARIANTS
    controls = names.CONTROLS
    simulator_needs = names.SIMULATOR_NEEDS
    baselines = names.BASELINES
    baselines_ignore = ("loss",)  # random_backbone builds the untrained model from `model`
    metric_keys = names.METRIC_KEYS
    figures = names.FIGURES
    primary_metric = ("avsa_accuracy", "max")

    # -- model -----------------------------------------------------------------------------

    def build_model(self, cfg: dict, variant: str) -> SpatialModel:
        return self.objective_model(cfg, objective_of(cfg, variant))

    def objective_model(self, cfg: dict, objective: str) -> SpatialModel:
        """A model of ``objective`` (:meth:`build_model` for a variant, the random backbone for an
        untrained one): the only reader of ``cfg["model"]``."""
        m, audio, tf = cfg["model"], cfg["audio"], cfg["model"]["transformer"]
        logmel = LogMel(
            cfg["features"]["sample_rate"],
            audio["n_fft"],
            audio["hop"],
            audio["n_mels"],
            audio["top_db"],
            audio.get("features", "logmel"),
        )
        return SpatialModel(
            objective,
            logmel,
            width=m["width"],
            video_stages=m["video_stages"],
            audio_stages=m["audio_stages"],
            embed_dim=m["embed_dim"],
            proj_dim=m["proj_dim"],
            temperature=float(m["temperature"]),
            transformer_heads=tf["heads"],
            transformer_expansion=tf["expansion"],
            transformer_dropout=tf["dropout"],
            transformer_depth=tf["depth"],
        )

    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        return [{"params": list(model.parameters()), "lr": float(cfg["train"]["lr"])}]

    def init_from(self, model: nn.Module, state: dict) -> None:
        """Curriculum: take the trunks (``video.*``, ``audio.*``) of another run (AVC); the heads
        and transformers of this objective start fresh, as in the AVSA code."""
        want = {k for k in model.state_dict() if k.startswith(TRUNKS)}
        missing = sorted(want - set(state))
        if missing:
            raise ValueError(
                f"init checkpoint lacks the trunk weights {missing[:3]}... "
                "(is it a spatial model with the same model.* settings?)"
            )
        model.load_state_dict({k: v for k, v in state.items() if k in want}, strict=False)

    # -- data and training -----------------------------------------------------------------

    def datasets(self, cfg: dict, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        objective_of(cfg, variant)
        k = int(cfg["viewpoints"]["count"])
        return (
            SpatialExamples(train, cfg, seed, k, int(cfg["train"]["samples_per_clip"]), train=True),
            SpatialExamples(val, cfg, seed + 1, k, 2, train=False, fixed=True),
        )

    def losses(self, model: SpatialModel, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        out = model(batch["crops"], batch["foa"], batch["rot"])
        return objective_losses(out, model.objective, model.temperature)

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(
        self,
        model: SpatialModel,
        cfg: dict,
        test: FeatureCache,
        name: str,
        *,
        train: FeatureCache | None = None,
        progress: bool = True,
    ) -> Evaluation:
        """AVC-Bin, AVSA-Bin, probe and alignment on ``test``; heads and probe fit on ``train``
        (``eval.needs_train: true``)."""
        return evaluate_model(model, cfg, test, train=train, progress=progress)

    def baseline(
        self,
        name: str,
        cfg: dict,
        test: FeatureCache,
        *,
        train: FeatureCache | None = None,
        progress: bool = True,
    ) -> Evaluation:
        return run_baseline(name, cfg, test, train=train, progress=progress, build=self.objective_model)

    # -- inference on a user's media ---------------------------------------------------------

    def infer(self, model: SpatialModel, cfg: dict, args, *, progress: bool = True) -> dict:
        """``avrepro locate``: a heat map of where the sound comes from in a 360 video."""
        from avrepro.tasks.spatial.infer import run_locate

        return run_locate(model, cfg, args, progress=progress)

    def demo(
        self, model: SpatialModel, cfg: dict, clips: list[dict], out_dir, *, progress: bool = True
    ) -> dict:
        """``locate`` on held-out test clips: heat-map videos and images, peak vs true sources."""
        from avrepro.tasks.spatial.infer import run_demo

        return run_demo(model, cfg, clips, out_dir, progress=progress)

    # -- outputs ---------------------------------------------------------------------------

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.tasks.spatial.figures import make_figures

        return make_figures(cfg, test, models_dir, metrics_dir, predictions_dir, out_dir)

    def report_section(self, ctx) -> str:
        from avrepro.tasks.spatial.report import spatial_section

        return spatial_section(ctx)
