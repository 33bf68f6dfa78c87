"""Nothing from the simulator is asked of real data: on a dataset it did not make, a variant that
is nothing without its ground truth is left out, the others run without those parts, and the
report says what was left out and why."""

from __future__ import annotations

import copy

import pytest

from avrepro.config import load_params
from avrepro.report.build import fit_note
from avrepro.tasks import fit_to_datasets, get_task
from helpers import ROOT


def default_config(dataset: str, **binaural) -> dict:
    overrides = {"profile": "default", "binaural": {"dataset": dataset, **binaural}}
    return load_params(ROOT / "params.yaml", overrides)


def test_synthetic_data_keeps_every_variant():
    cfg = default_config("synthetic")
    assert fit_to_datasets(copy.deepcopy(cfg)) == cfg


@pytest.mark.parametrize("dataset", ["fairplay", "local"])
def test_real_data_leaves_out_the_rir_variant_and_the_rir_head(dataset):
    cfg = fit_to_datasets(default_config(dataset))
    section = cfg["binaural"]
    assert "rir" not in section["variants"] and "full" in section["variants"]
    assert section["left_out"] == {"rir": "needs the simulated room impulse responses"}
    assert section["without"] == ["rir"]
    assert section["controls"] == {"flipped": "full"}  # the control of a kept variant stays
    for other in ("separation", "sync", "spatial"):  # synthetic datasets: untouched
        assert "left_out" not in cfg[other] and "without" not in cfg[other]
    note = fit_note(cfg, "binaural")
    assert f"On `{dataset}`" in note and "variant `rir` left out" in note
    assert "`full` trained and evaluated without" in note


def test_full_without_rir_has_no_rir_head_and_no_rir_targets():
    task = get_task("binaural")
    section = fit_to_datasets(default_config("fairplay"))["binaural"]
    assert task.build_model(section, "full").rir is None
    synthetic = default_config("synthetic")["binaural"]
    assert task.build_model(synthetic, "full").rir is not None


def test_a_run_of_simulator_only_variants_is_refused():
    cfg = default_config("fairplay", variants=["rir"], controls={})
    with pytest.raises(ValueError, match="every variant needs what only the simulator knows"):
        fit_to_datasets(cfg)


def test_nothing_to_say_on_synthetic_data():
    assert fit_note(default_config("synthetic"), "binaural") == ""


def test_sync_on_own_videos_keeps_every_variant_and_drops_the_box_scores():
    cfg = load_params(ROOT / "params.yaml", {"profile": "default", "sync": {"dataset": "local_videos"}})
    section = fit_to_datasets(cfg)["sync"]
    assert section["variants"] == ["fused", "audio_only", "video_only"] and not section["left_out"]
    assert section["without"] == ["boxes"]
    note = fit_note(cfg, "sync")
    assert "On `local_videos`" in note and "boxes in the frames" in note
    assert "`fused`, `audio_only`, `video_only` trained and evaluated without" in note


@pytest.mark.parametrize("dataset", ["music", "local_solos"])
def test_separation_on_real_solos_keeps_its_variants_and_drops_the_box_scores(dataset):
    cfg = load_params(ROOT / "params.yaml", {"profile": "default", "separation": {"dataset": dataset}})
    section = fit_to_datasets(cfg)["separation"]
    assert section["variants"] == ["binary"] and not section.get("left_out")
    assert section["without"] == ["boxes"]
    assert "boxes in the frames" in fit_note(cfg, "separation")
    assert (
        fit_to_datasets(load_params(ROOT / "params.yaml", {"profile": "default"}))["separation"].get(
            "without"
        )
        is None
    )
