"""The spatial task end to end on the smoke dataset: train, evaluate, baselines, figures, report."""

from __future__ import annotations

import copy
import json

import pytest

from helpers.configs import task_config

VARIANTS = ["avc", "avsa", "avsa_curriculum"]
DAG_KEYS = ("variants", "baselines", "controls", "init_from")


def test_train_evaluate_figures_report_end_to_end(task_caches, tmp_path):
    from avrepro.engine.evaluate import evaluate
    from avrepro.engine.train import train
    from avrepro.tasks import get_task

    caches = task_caches("spatial")["caches"]
    cfg = task_config("spatial", {"variants": VARIANTS})
    task = get_task("spatial")
    tcfg = {k: v for k, v in cfg.items() if k not in ("eval",) + DAG_KEYS}
    ecfg = {k: v for k, v in cfg.items() if k != "train"}
    item = task.datasets(tcfg, caches["train"], caches["val"], "avsa", 0)[0][0]
    assert item["crops"].shape == (3, 1, 3, 16, 16) and item["foa"].shape == (4, 8000)
    assert item["rot"].shape == (3, 3, 3)
    models, metrics, preds = tmp_path / "models", tmp_path / "metrics", tmp_path / "pred"
    for v in cfg["variants"]:
        init = models / cfg["init_from"][v] / "best.pt" if v in cfg["init_from"] else None
        train(
            task,
            copy.deepcopy(tcfg),
            v,
            caches["train"],
            caches["val"],
            models / v,
            seed=0,
            progress=False,
            threads=1,
            init=init,
        )
        evaluate(
            "spatial",
            ecfg,
            v,
            caches["test"],
            models / v / "best.pt",
            metrics / f"spatial_{v}.json",
            metrics / f"spatial_{v}_clips.csv",
            preds / v,
            progress=False,
            train_cache=caches["train"],
        )
    for b in cfg["baselines"]:
        evaluate(
            "spatial",
            ecfg,
            b,
            caches["test"],
            None,
            metrics / f"spatial_{b}.json",
            metrics / f"spatial_{b}_clips.csv",
            None,
            progress=False,
            train_cache=caches["train"],
        )
    _check_metrics(metrics, cfg, caches["test"])
    first_clip = caches["test"].clip_ids[0]
    assert sorted(p.name for p in (preds / "avsa").iterdir())[1:3] == [  # after .contents.json
        f"alignment_{first_clip}.json",
        f"alignment_{first_clip}.npy",
    ]
    again = tmp_path / "again.json"
    evaluate(
        "spatial",
        ecfg,
        "avsa",
        caches["test"],
        models / "avsa" / "best.pt",
        again,
        tmp_path / "c.csv",
        None,
        progress=False,
        train_cache=caches["train"],
    )
    first = json.loads((metrics / "spatial_avsa.json").read_text())
    assert json.loads(again.read_text()) == first  # deterministic
    _check_figures_and_report(task, ecfg, caches["test"], models, metrics, preds, tmp_path)


def _check_metrics(metrics, cfg: dict, test) -> None:
    for name in cfg["variants"] + cfg["baselines"]:
        summary = json.loads((metrics / f"spatial_{name}.json").read_text())
        assert summary["n_clips"] == len(test) == 2
        for key in ("avc_accuracy", "avsa_accuracy", "probe_accuracy"):
            assert 0 <= summary[key] <= 1 and f"{key}_sem" in summary and f"{key}_std" in summary
    chance = json.loads((metrics / "spatial_chance.json").read_text())
    assert chance["avc_accuracy"] == 0.5 and chance["alignment_top1"] == pytest.approx(1 / 6)
    backbone = json.loads((metrics / "spatial_random_backbone.json").read_text())
    assert backbone["objective"] == "none (random init)"


def _check_figures_and_report(task, ecfg, test, models, metrics, preds, tmp_path) -> None:
    figs = task.make_figures(ecfg, test, models, metrics, preds, tmp_path / "figures")
    names = {p.name for p in figs}
    assert {"loss_curves.png", "accuracy.png", "alignment_summary.png"} <= names
    assert all(p.stat().st_size > 1000 for p in figs)

    from avrepro.report.kit import ReportContext

    (tmp_path / "tables").mkdir()
    ctx = ReportContext(
        cfg={"spatial": ecfg},
        out_md=tmp_path / "report.md",
        metric_dir=metrics,
        figure_dir=tmp_path / "figures",
        table_dir=tmp_path / "tables",
    )
    (tmp_path / "figures" / "spatial").mkdir(exist_ok=True)
    md = task.report_section(ctx)
    assert "AVC-Bin" in md and "random backbone" in md
    assert (tmp_path / "tables" / "spatial_metrics.md").is_file()
    assert "|\n\nTable files:" in md  # the table ends before its file links


def test_evaluation_needs_the_train_split_and_known_baselines(task_caches):
    from avrepro.tasks import get_task

    caches = task_caches("spatial")["caches"]
    cfg = {k: v for k, v in task_config("spatial").items() if k != "train"}
    task = get_task("spatial")
    with pytest.raises(ValueError, match="needs_train"):
        task.baseline("random_backbone", cfg, caches["test"], progress=False)
    with pytest.raises(ValueError, match="needs_train"):
        task.evaluate(task.build_model(cfg, "avc"), cfg, caches["test"], "avc", progress=False)
    known = "unknown spatial baseline 'nmf' \\(known: chance, random_backbone\\)"
    with pytest.raises(ValueError, match=known):
        task.baseline("nmf", cfg, caches["test"], train=caches["train"], progress=False)
