"""The binaural task's contract: names declared once, the model built from the config's model
section, parameter groups, the variant's parts and the names a run may ask for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import avrepro.tasks.binaural as package
from avrepro.tasks import get_task
from avrepro.tasks.binaural import names
from avrepro.tasks.binaural.model import VARIANT_PARTS
from avrepro.tasks.binaural.rir import rir_shape
from avrepro.tasks.binaural.task import BinauralTask

NAME_CONSTANTS = ("VARIANTS", "SHORTCUT_VARIANTS", "CONTROLS", "BASELINES", "METRIC_KEYS", "FIGURES")


def test_the_registry_gives_the_task_with_the_names_of_names_py():
    task = get_task("binaural")
    assert isinstance(task, BinauralTask) and task.name == "binaural"
    assert task.variants == names.VARIANTS and task.shortcut_variants == names.SHORTCUT_VARIANTS
    assert task.controls == names.CONTROLS and task.baselines == names.BASELINES
    assert task.metric_keys == names.METRIC_KEYS and task.figures == names.FIGURES
    assert set(task.shortcut_variants) <= set(task.variants)
    assert tuple(VARIANT_PARTS) == names.VARIANTS
    assert [v for v, p in VARIANT_PARTS.items() if p.blank_frame] == list(names.SHORTCUT_VARIANTS)


def test_names_are_declared_in_names_py_only():
    declared = {}
    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            for t in targets:
                if isinstance(t, ast.Name) and t.id in NAME_CONSTANTS:
                    declared.setdefault(t.id, []).append(path.name)
    assert declared == {n: ["names.py"] for n in NAME_CONSTANTS}


def test_build_model_reads_the_model_section(cfg):
    cfg["model"]["coherence_ngf"] = 2  # its own width, not the U-Net's
    task = BinauralTask()
    full = task.build_model(cfg, "full")
    assert full.parts == VARIANT_PARTS["full"]
    assert full.down[0][0].out_channels == cfg["model"]["ngf"]
    assert full.coherence.down[0][0].out_channels == 2
    assert full.visual.dim == cfg["model"]["visual_channels"] * 1 * 2  # 32x64 crops: a 1x2 map
    assert full.rir.shape == rir_shape(cfg["rir"]) == (2, 2, 5)
    assert task.build_model(cfg, "backbone").rir is None
    with pytest.raises(ValueError, match="unknown binaural variant 'apnet'"):
        task.build_model(cfg, "apnet")


def test_param_groups_have_the_configured_rates(cfg):
    cfg["train"].update(lr_visual=1e-4, lr_audio=1e-3, lr_heads=2e-4)
    task = BinauralTask()
    model = task.build_model(cfg, "full")
    groups = task.param_groups(model, cfg)
    assert [g["lr"] for g in groups] == [1e-4, 1e-3, 2e-4]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    torch.optim.Adam(groups)  # a valid optimizer specification


def test_unknown_names_in_the_section_are_named(cfg):
    task = BinauralTask()
    task.check_names(cfg, "params.yaml: binaural")
    with pytest.raises(ValueError, match="binaural.controls: unknown name 'mirrored'"):
        task.check_names({**cfg, "controls": {"mirrored": "full"}}, "params.yaml: binaural")
    with pytest.raises(ValueError, match="binaural.baselines: unknown name 'silence'"):
        task.check_names({**cfg, "baselines": ["silence"]}, "params.yaml: binaural")


def test_demo_variant_must_be_a_variant(cfg):
    task = BinauralTask()
    with pytest.raises(ValueError, match=r"binaural.eval.demo_variant: unknown name 'ful'"):
        task.check_names({**cfg, "eval": {**cfg["eval"], "demo_variant": "ful"}}, "params.yaml: binaural")
