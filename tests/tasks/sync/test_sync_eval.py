"""Sync task end to end on a toy cache: the task's names, engine training (SGD, grad clip),
evaluation files, the chance baseline, figures and the report section."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sync_toy import TOY_CFG as CFG
from sync_toy import VARIANTS, ToyCache

from avrepro.engine.evaluate import evaluate
from avrepro.engine.train import train
from avrepro.io import read_json
from avrepro.report.build import build_report
from avrepro.tasks import get_task
from avrepro.tasks.sync import names as sync_names
from avrepro.tasks.sync.baselines import IMPLEMENTATIONS
from avrepro.tasks.sync.evaluate import accuracy_by_shift
from avrepro.tasks.sync.figures import make_figures
from helpers.configs import smoke_config


def test_task_declares_the_names_of_the_package():
    task = get_task("sync")
    assert task.variants == sync_names.VARIANTS == ("fused", "audio_only", "video_only")
    assert task.shortcut_variants == sync_names.SHORTCUT_VARIANTS == ("audio_only", "video_only")
    assert task.controls == () and task.baselines == ("chance",) == tuple(IMPLEMENTATIONS)
    assert task.metric_keys == sync_names.METRIC_KEYS and task.figures == sync_names.FIGURES


def test_losses_log_accuracy_without_gradient():
    task = get_task("sync")
    torch.manual_seed(0)
    model = task.build_model(CFG, "fused")
    ds, _ = task.datasets(CFG, ToyCache(2), ToyCache(1, seed=1), "fused", 0)
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    out = task.losses(model, batch, CFG)
    assert set(out) == {"loss", "accuracy"} and not out["accuracy"].requires_grad
    out["loss"].backward()
    groups = task.param_groups(model, CFG)
    assert groups[0]["weight_decay"] == 1e-5 and groups[1]["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_accuracy_by_shift():
    recs = [
        {"shift_s": 0.5, "logit_aligned": -1.0, "logit_shifted": 2.0},
        {"shift_s": -0.5, "logit_aligned": 1.0, "logit_shifted": 0.5},
        {"shift_s": 1.0, "logit_aligned": -1.0, "logit_shifted": -0.5},
    ]
    rows = accuracy_by_shift(recs)["rows"]
    assert [r["shift_s"] for r in rows] == [0.5, 1.0]
    assert rows[0]["n_pairs"] == 2 and rows[0]["accuracy"] == 0.75 and rows[0]["pair_accuracy"] == 0.5
    assert rows[1]["accuracy"] == 0.5 and rows[1]["accuracy_shifted"] == 0.0
    assert rows[1]["pair_accuracy"] == 1.0


def test_train_evaluate_figures_report(tmp_path):
    task = get_task("sync")
    train_c, val_c, test_c = ToyCache(4, seed=0), ToyCache(2, seed=1), ToyCache(3, seed=2)
    metrics, preds = tmp_path / "metrics", tmp_path / "predictions" / "sync"
    for variant in VARIANTS:
        final = train(
            task,
            CFG,
            variant,
            train_c,
            val_c,
            tmp_path / "models" / "sync" / variant,
            seed=0,
            device="cpu",
            progress=False,
        )
        assert {"train/loss", "train/accuracy", "val/loss", "val/accuracy"} <= set(final)
        summary = evaluate(
            "sync",
            CFG,
            variant,
            test_c,
            tmp_path / "models" / "sync" / variant / "best.pt",
            metrics / f"sync_{variant}.json",
            metrics / f"sync_{variant}_clips.csv",
            preds / variant,
            seed=0,
            device="cpu",
            progress=False,
            threads=1,
        )
        for key in (
            "accuracy",
            "accuracy_sem",
            "accuracy_std",
            "accuracy_ci_low",
            "accuracy_ci_high",
            "pair_accuracy",
            "map_mass_in_box",
            "pointing_accuracy",
            "box_share",
        ):
            assert math.isfinite(summary[key]), key
        assert summary["n_clips"] == 3 and summary["n_examples"] == 24  # 3 clips x 2 pairs x 2 ways x 2
        assert summary["accuracy_ci_low"] <= summary["accuracy"] <= summary["accuracy_ci_high"]
        assert summary["box_share"] == pytest.approx(0.25 * 0.5)  # the toy box: 1/4 x 1/2 of the frame
        cams = read_json(preds / variant / "cams.json")
        assert set(cams) == {"best", "worst"}
        assert np.load(preds / variant / cams["best"]["file"]).shape == (2, 5, 4, 8)  # both tracks
        assert len(read_json(preds / variant / "examples.json")) == 12
    # mirrored test pairs: a net that hears only the audio scores exactly chance
    assert read_json(metrics / "sync_audio_only.json")["accuracy"] == 0.5
    video_only = read_json(metrics / "sync_video_only.json")
    assert video_only["pair_accuracy"] == 0.0  # silent audio: both tracks get the same score
    assert video_only["accuracy"] == 0.5
    chance = evaluate(
        "sync",
        CFG,
        "chance",
        test_c,
        None,
        metrics / "sync_chance.json",
        metrics / "sync_chance_clips.csv",
        seed=0,
        progress=False,
    )
    assert 0.0 <= chance["accuracy"] <= 1.0 and 0 < chance["map_mass_in_box"] < 0.5
    with pytest.raises(ValueError, match=r"unknown sync baseline 'oracle' \(known: chance\)"):
        task.baseline("oracle", CFG, test_c, progress=False)

    figs = make_figures(
        {k: v for k, v in CFG.items() if k != "train"},
        test_c,
        tmp_path / "models" / "sync",
        metrics,
        preds,
        tmp_path / "figures" / "sync",
    )
    names = {p.name for p in figs}
    assert {"curves.png", "accuracy.png", "accuracy_by_shift.png"} <= names
    assert sum(n.startswith("cam_best_") and n.endswith(".png") for n in names) == 1
    assert sum(n.startswith("cam_worst_") and n.endswith(".mp4") for n in names) == 1
    assert all(p.is_file() and p.stat().st_size > 0 for p in figs)

    md = build_report(
        {**smoke_config(), "tasks": ["sync"], "sync": CFG},
        tmp_path / "reports" / "report.md",
        metrics,
        tmp_path / "figures",
        tmp_path / "tables",
        tasks=["sync"],
    )
    assert "Audio-visual synchronisation" in md and "Controls, the same net" in md
    assert "`video_only` control's CAM localizes" in md and "contrast" in md
    assert "59.9 %" in md and "cam_best_" in md and (tmp_path / "tables" / "sync_metrics.csv").is_file()
