"""The inference verbs' shared part: which model a verb uses, with which settings, and the demo
block the report shows."""

from __future__ import annotations

import json

import pytest

from avrepro.engine.infer import best_variant, eval_section
from avrepro.report.build import build_report
from avrepro.tasks import demo_variant, get_task, task_verbs
from helpers import ROOT
from helpers.configs import task_config
from helpers.trained import DAG_KEYS


def _trained(models, *variants):
    for v in variants:
        (models / "binaural" / v).mkdir(parents=True)
        (models / "binaural" / v / "best.pt").write_bytes(b"")


def test_best_variant_by_the_primary_metric(tmp_path):
    task = get_task("binaural")
    models, metrics = tmp_path / "models", tmp_path / "metrics"
    with pytest.raises(FileNotFoundError, match="no trained binaural model"):
        best_variant(task, models, metrics)
    _trained(models, "film", "fusion", "full")
    assert best_variant(task, models, metrics) == "full"  # no metrics: the last trained
    metrics.mkdir()
    for v, d in (("film", 0.9), ("fusion", 0.7), ("full", 0.8), ("backbone", 0.1)):
        (metrics / f"binaural_{v}.json").write_text(json.dumps({"stft_distance": d}))
    assert best_variant(task, models, metrics) == "fusion"  # lowest distance among trained ones


def test_eval_section_of_the_matching_profile():
    smoke = task_config("binaural")
    run_cfg = {k: v for k, v in smoke.items() if k not in DAG_KEYS}
    assert eval_section("binaural", run_cfg, ROOT / "params.yaml", None) == smoke["eval"]
    assert eval_section("binaural", run_cfg, ROOT / "missing.yaml", None) == {}


def test_every_task_has_a_verb():
    verbs = task_verbs()
    assert {name for name, _ in verbs.values()} == {"binaural", "separation", "sync", "spatial"}
    assert set(verbs) == {"binauralize", "separate", "sync", "locate"}


def test_report_plays_the_demo_media(tmp_path):
    demo = tmp_path / "demos" / "binaural"
    demo.mkdir(parents=True)
    (demo / "a_binaural.mp4").write_bytes(b"")
    (demo / "a_binaural.wav").write_bytes(b"")
    shown = {
        "task": "binaural",
        "verb": "binauralize",
        "variant": "full",
        "items": [
            {
                "title": "predicted binaural",
                "clip": "a",
                "files": ["a_binaural.mp4", "a_binaural.wav"],
                "numbers": {"stft_distance": 0.81234},
            }
        ],
        "summary": {"stft_distance": 0.81234},
    }
    (demo / "demo.json").write_text(json.dumps(shown))
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    cfg = {
        "profile": "smoke",
        "seed": 0,
        "tasks": ["binaural"],
        "binaural": {"dataset": "synthetic", "variants": ["film"], "baselines": ["mono_mono"]},
    }
    for name in ("film", "mono_mono"):
        (metrics / f"binaural_{name}.json").write_text(
            json.dumps({"stft_distance": 1.0, "env_distance": 0.1, "n_clips": 2})
        )
    md = build_report(
        cfg,
        tmp_path / "r" / "report.md",
        metrics,
        tmp_path / "figs",
        tmp_path / "tables",
        demo_dir=tmp_path / "demos",
    )
    assert "### Your own videos: `avrepro binauralize`" in md
    assert "stft_distance 0.812" in md
    page = (tmp_path / "r" / "report.html").read_text()
    assert '<video controls preload="metadata" width="320" src="../demos/binaural/a_binaural.mp4"' in page
    assert '<audio controls preload="none" src="../demos/binaural/a_binaural.wav"' in page


def test_demo_variant_defaults_to_the_last_full_variant():
    assert demo_variant("sync", {"demo": {"clips": 2}, "variants": ["fused", "audio_only"]}) == "fused"
    assert demo_variant("binaural", {"demo": {"clips": 1}, "variants": ["film", "full"]}) == "full"
    assert (
        demo_variant("binaural", {"demo": {"clips": 1, "variant": "film"}, "variants": ["film", "full"]})
        == "film"
    )
    assert demo_variant("sync", {"demo": {"clips": 2}, "variants": ["audio_only"]}) is None
    assert demo_variant("sync", {"variants": ["fused"]}) is None
