"""The task contract: everything the engine, the CLI, the figures and the report know of a task.

A task is a subclass of :class:`Task` registered in :mod:`avrepro.tasks`. The rest of the code
reaches a task only through the registry and this class: it never imports a task's modules.

Words mean the same thing in every task:

- **variant**: a model the DAG trains (``<task>.variants`` in ``params.yaml`` picks from
  :attr:`Task.variants`); its checkpoint is ``models/<task>/<variant>/best.pt``.
- **shortcut variant**: a variant trained on part of the input only (frames or audio blanked); it
  measures what a shortcut could score. Listed in :attr:`Task.shortcut_variants`.
- **control**: a trained variant's checkpoint evaluated another way (e.g. mirrored frames);
  ``<task>.controls: {control: variant}`` in ``params.yaml``.
- **baseline**: a method evaluated without a checkpoint of ours (chance, NMF, mono-mono, ...).
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from avrepro.data.cache import FeatureCache

if TYPE_CHECKING:
    from avrepro.report.kit import ReportContext

Evaluation = tuple[dict, list[dict], dict]
"""What evaluation returns: (flat summary of DESIGN 2.1 keys, per-clip rows, predictions by file
name; see :func:`avrepro.engine.evaluate.write_predictions` for the file kinds)."""


class Task(ABC):
    """One published system: its names, model, data, losses, evaluation, figures and report."""

    name: ClassVar[str]
    variants: ClassVar[tuple[str, ...]]
    shortcut_variants: ClassVar[tuple[str, ...]] = ()
    controls: ClassVar[tuple[str, ...]] = ()
    baselines: ClassVar[tuple[str, ...]]
    baselines_ignore: ClassVar[tuple[str, ...]] = ("model", "loss")
    """Sections of the task's params its baselines never read: their rule does not rerun when only
    these change (a task whose baseline builds an untrained model keeps ``model``)."""
    metric_keys: ClassVar[tuple[str, ...]]
    figures: ClassVar[dict[str, str]]
    """Figure key -> file name (a pattern with ``{fields}`` for per-clip files) under
    ``reports/figures/<task>/``."""
    simulator_needs: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Variant -> what only the embedded simulator knows that it uses (e.g. ``rir``); on other
    data those parts are dropped (the section's ``without``), see
    :func:`avrepro.tasks.fit_to_datasets`."""
    simulator_only: ClassVar[tuple[str, ...]] = ()
    """Variants that are nothing without their simulator facts: left out on other data."""
    primary_metric: ClassVar[tuple[str, str]] = ("", "min")
    """(summary key, ``"min"`` or ``"max"``): what makes one trained variant better than another
    (the inference verb's default model is the best variant of the last run)."""

    # -- model -----------------------------------------------------------------------------

    @abstractmethod
    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        """The model of ``variant``; the only reader of the task's ``model`` section."""

    @abstractmethod
    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        """Optimizer parameter groups (each with its ``lr``) of the plain ``model``."""

    def init_from(self, model: nn.Module, state: dict) -> None:
        """Start ``model`` from another variant's weights (``<task>.init_from``); by default
        every matching tensor is loaded."""
        model.load_state_dict(state, strict=False)

    # -- data and training -----------------------------------------------------------------

    @abstractmethod
    def datasets(
        self, cfg: dict, train: FeatureCache, val: FeatureCache, variant: str, seed: int
    ) -> tuple[Dataset, Dataset]:
        """The training dataset (with ``set_epoch(epoch)``) and a fixed validation dataset."""

    @abstractmethod
    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        """Named losses of one batch already on the model's device; ``"loss"`` is the total that
        is minimised, the others are logged. ``model`` is the plain model: the engine runs this
        method inside its DDP / ``torch.compile`` wrapper, so tasks never see one."""

    # -- evaluation ------------------------------------------------------------------------

    @abstractmethod
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
        """A trained model on the test split; ``name`` is its variant or one of its controls."""

    @abstractmethod
    def baseline(
        self,
        name: str,
        cfg: dict,
        test: FeatureCache,
        *,
        train: FeatureCache | None = None,
        progress: bool = True,
    ) -> Evaluation:
        """The baseline ``name`` (one of :attr:`baselines`) on the test split."""

    # -- outputs ---------------------------------------------------------------------------

    @abstractmethod
    def make_figures(
        self,
        cfg: dict,
        test: FeatureCache,
        models_dir: Path,
        metrics_dir: Path,
        predictions_dir: Path,
        out_dir: Path,
    ) -> list[Path]:
        """Draw the task's figures into ``out_dir``; return the files written."""

    @abstractmethod
    def report_section(self, ctx: ReportContext) -> str:
        """The task's section of the report (markdown); tables go under ``ctx.table_dir``."""

    # -- inference on a user's media ---------------------------------------------------------

    def infer(self, model: nn.Module, cfg: dict, args: argparse.Namespace, *, progress: bool = True) -> dict:
        """The task's verb (``avrepro <verb>``, declared with its arguments in the package's light
        ``verb.py``) on the media ``args`` names: write the outputs ``args`` asks for and return
        a JSON-able summary. ``cfg`` is the model's training section with the ``eval`` section."""
        raise NotImplementedError(f"task {self.name!r} has no inference verb")

    def demo(
        self, model: nn.Module, cfg: dict, clips: list[dict], out_dir: Path, *, progress: bool = True
    ) -> dict:
        """The verb on held-out test ``clips`` (``{"clip_id", "video", "audio", "meta"}``): write
        its media into ``out_dir`` and return ``{"items": [{"title", "clip", "files", "numbers"}],
        "summary": {...}}`` for the report (the DAG's ``demo`` stage)."""
        raise NotImplementedError(f"task {self.name!r} has no inference demo")

    # -- names -----------------------------------------------------------------------------

    def evaluated_names(self, cfg: dict) -> list[str]:
        """Everything a run of ``cfg`` evaluates: baselines, variants, then controls."""
        return (
            list(cfg.get("baselines") or [])
            + list(cfg.get("variants") or [])
            + list(cfg.get("controls") or {})
        )

    def check_names(self, cfg: dict, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` (e.g. ``params.yaml: sync``) when the task's
        section lists a variant, baseline or control this task does not have."""
        from avrepro.tasks import check_section_names

        check_section_names(cfg, self.variants, self.baselines, self.controls, where)
