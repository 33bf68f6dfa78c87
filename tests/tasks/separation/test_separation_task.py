"""Separation task end to end on the smoke profile's solo clips: examples, training, evaluation of
the model and the baselines, figures and the report section."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from avrepro.tasks.separation.data import SeparationMixes, clip_classes, evaluation_mixtures
from helpers.configs import task_config


@pytest.fixture(scope="module")
def sep(task_caches):
    got = task_caches("separation")
    return {"cfg": copy.deepcopy(got["cfg"]["separation"]), "caches": got["caches"]}


def test_training_mixtures_mix_different_classes_and_are_reproducible(sep):
    cfg, train = sep["cfg"], sep["caches"]["train"]
    classes = clip_classes(train)
    ds = SeparationMixes(train, cfg, seed=3, length=6, train=True)
    item = ds[2]
    n, window = cfg["mix"]["n"], cfg["audio"]["window"]
    h, w = cfg["frames"]["crop_height"], cfg["frames"]["crop_width"]
    assert item["audio"].shape == (n, window)
    assert item["frames"].shape == (n, cfg["frames"]["count"], 3, h, w)
    assert float(item["audio"].abs().max()) <= 1.0 / n + 1e-6
    assert torch.equal(ds[2]["audio"], item["audio"])  # a function of (seed, epoch, index)
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["audio"], item["audio"])
    # the item's first clip leads and every source is of another class: check through the
    # leading clip's class and the pairing rule on the fixed test list
    combos = evaluation_mixtures(sep["caches"]["test"], n, 50, window, seed=0)
    assert combos and all(len({clip_classes(sep["caches"]["test"])[i] for i in c}) == n for c in combos)
    assert len({frozenset(c) for c in combos}) == len(combos)
    assert combos == evaluation_mixtures(sep["caches"]["test"], n, 50, window, seed=0)
    assert sum(c is not None for c in classes) == len(train)


@pytest.fixture(scope="module")
def trained(sep, tmp_path_factory):
    from avrepro.engine.train import train
    from avrepro.tasks import get_task

    out = tmp_path_factory.mktemp("sep_models")
    cfg = {k: v for k, v in sep["cfg"].items() if k not in ("eval", "variants", "baselines")}
    train(
        get_task("separation"),
        cfg,
        "binary",
        sep["caches"]["train"],
        sep["caches"]["val"],
        out / "binary",
        seed=0,
        device="cpu",
        progress=False,
    )
    return out


def test_evaluation_of_model_and_baselines_then_figures_and_report(sep, trained, tmp_path):
    from avrepro.engine.evaluate import evaluate
    from avrepro.report.build import build_report

    cfg = {k: v for k, v in task_config("separation", {"eval": {"workers": 2}}).items() if k != "train"}
    test, train = sep["caches"]["test"], sep["caches"]["train"]
    metrics, preds = tmp_path / "metrics", tmp_path / "predictions" / "separation"
    results = {}
    for name in ["binary", "mixture", "ibm", "irm", "nmf", "nmf_supervised"]:
        ckpt = trained / name / "best.pt" if name == "binary" else None
        results[name] = evaluate(
            "separation",
            copy.deepcopy(cfg),
            name,
            test,
            ckpt,
            metrics / f"separation_{name}.json",
            metrics / f"separation_{name}_clips.csv",
            predictions_dir=preds / name if name == "binary" else None,
            progress=False,
            train_cache=train if name == "nmf_supervised" else None,
        )
    for name, s in results.items():
        assert {"sdr", "sir", "sar", "sdr_mixture", "sdr_sem", "n_clips"} <= set(s), name
        assert 0 < s["n_clips"] <= cfg["eval"]["mixtures"]
        assert s["sdr_mixture"] == pytest.approx(results["mixture"]["sdr_mixture"])
    assert results["mixture"]["sdr"] == pytest.approx(results["mixture"]["sdr_mixture"], abs=1e-6)
    assert results["ibm"]["sdr"] > results["mixture"]["sdr"] + 5
    assert results["irm"]["sdr"] > results["mixture"]["sdr"] + 5
    model = results["binary"]
    for key in ("pointing_accuracy", "map_mass_in_box", "box_share"):
        assert 0 <= model[key] <= 1
    assert model["pointing_accuracy_chance"] == model["box_share"] > 0
    files = sorted(p.name for p in (preds / "binary").iterdir())
    assert {
        "mix000.json",
        "mix000_masks.npy",
        "mix000_maps.npy",
        "mix000_mixture.wav",
        "mix000_true0.wav",
        "mix000_est1.wav",
    } <= set(files)
    desc = json.loads((preds / "binary" / "mix000.json").read_text())
    assert len(desc["boxes"]) == len(desc["clips"]) == cfg["mix"]["n"]
    masks = np.load(preds / "binary" / "mix000_masks.npy")
    assert masks.shape[:2] == (cfg["mix"]["n"], cfg["audio"]["n_fft"] // 2 + 1)

    from avrepro.tasks.separation.figures import make_figures

    figs = tmp_path / "figures" / "separation"
    written = make_figures(sep["cfg"], test, trained, metrics, preds, figs)
    names = {p.name for p in written}
    assert {
        "loss_curves.png",
        "metrics.png",
        "sdr_clips.png",
        "spectrograms_binary_mix000.png",
        "localization_binary_mix000.png",
        "audio_binary_mix000_est0.wav",
    } <= names
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)

    md = build_report(
        {"profile": "smoke", "separation": sep["cfg"]},
        tmp_path / "report.md",
        metrics,
        tmp_path / "figures",
        tmp_path / "tables",
        tasks=["separation"],
    )
    assert "## Sound separation and localization" in md
    assert "localization_binary_mix000.png" in md and "separation_metrics.md" in md
    assert (tmp_path / "tables" / "separation_metrics.csv").is_file()


def test_longer_test_mixtures_are_read_whole_and_separated_window_by_window(sep, trained, tmp_path):
    """``eval.window`` twice the training window: every method gets the whole test mixture, the
    model's masks cover it (its two training windows joined)."""
    from avrepro.engine.evaluate import evaluate

    cfg = {k: v for k, v in task_config("separation").items() if k != "train"}
    window = 2 * (cfg["audio"]["window"] + 1) - 1  # two training windows' frames
    cfg["eval"]["window"] = window
    preds, results = tmp_path / "predictions", {}
    for name in ("binary", "nmf"):
        results[name] = evaluate(
            "separation",
            copy.deepcopy(cfg),
            name,
            sep["caches"]["test"],
            trained / name / "best.pt" if name == "binary" else None,
            tmp_path / f"separation_{name}.json",
            tmp_path / f"separation_{name}_clips.csv",
            predictions_dir=preds if name == "binary" else None,
            progress=False,
        )
        assert results[name]["n_clips"] > 0 and np.isfinite(results[name]["sdr"])
    assert len(sf.read(preds / "mix000_mixture.wav")[0]) == window
    masks = np.load(preds / "mix000_masks.npy")
    assert masks.shape[-1] == 2 * (1 + cfg["audio"]["window"] // cfg["audio"]["hop"])
    assert 0 <= results["binary"]["pointing_accuracy"] <= 1
    cfg["eval"]["window"] = window + 2 * (cfg["audio"]["window"] + 1)  # longer than the clips
    with pytest.warns(RuntimeWarning, match=r"test clips are shorter than the test window .* zero padded"):
        evaluate(
            "separation", cfg, "nmf", sep["caches"]["test"], None, tmp_path / "n.json", tmp_path / "n.csv"
        )


def test_unknown_baseline_and_nmf_without_train_split_fail_clearly(sep):
    from avrepro.tasks.separation.task import SeparationTask

    cfg = {k: v for k, v in sep["cfg"].items() if k != "train"}
    with pytest.raises(ValueError, match="unknown separation baseline"):
        SeparationTask().baseline("oracle", cfg, sep["caches"]["test"], progress=False)
    with pytest.raises(ValueError, match="needs_train"):
        SeparationTask().baseline("nmf_supervised", cfg, sep["caches"]["test"], progress=False)


def test_names_are_declared_once_and_every_baseline_has_a_masker():
    from avrepro.tasks.separation import names
    from avrepro.tasks.separation.baselines import MASKERS
    from avrepro.tasks.separation.task import SeparationTask

    assert tuple(MASKERS) == names.BASELINES == SeparationTask.baselines
    assert SeparationTask.variants == names.VARIANTS and SeparationTask.figures is names.FIGURES
    assert set(names.UPPER_BOUNDS) <= set(names.BASELINES)
    assert SeparationTask.metric_keys == names.SEPARATION_KEYS + names.LOCALIZATION_KEYS


@pytest.mark.parametrize(
    "pointing, verdict",
    [
        (0.37, "Localization is learnt, weakly"),
        (0.55, "Localization is learnt, clearly"),
        (0.25, "Localization is **not** learnt"),
    ],
)
def test_report_localization_verdict_follows_the_standard_error(tmp_path, pointing, verdict):
    """Pointing 2+ SE above the box share is learnt (clearly from twice chance); inside 2 SE it is not."""
    from avrepro.report.build import build_report

    metrics = tmp_path / "metrics"
    metrics.mkdir()
    base = {"sdr": 6.0, "sdr_sem": 0.4, "sir": 9.0, "sar": 14.0, "sdr_mixture": 0.8, "n_clips": 128}
    (metrics / "separation_mixture.json").write_text(json.dumps({**base, "sdr": 0.8}))
    (metrics / "separation_binary.json").write_text(
        json.dumps(
            {
                **base,
                "pointing_accuracy": pointing,
                "pointing_accuracy_sem": 0.03,
                "map_mass_in_box": 0.3,
                "box_share": 0.235,
            }
        )
    )
    cfg = task_config("separation", {"variants": ["binary"], "baselines": ["mixture"]})
    assert cfg["mix"]["n"] == 2 and cfg["model"]["weights"] == "none"
    md = build_report(
        {"profile": "default", "separation": cfg},
        tmp_path / "report.md",
        metrics,
        tmp_path / "figures",
        tmp_path / "tables",
        tasks=["separation"],
    )
    assert verdict in md
