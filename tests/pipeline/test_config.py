"""params.yaml: profiles resolve, a wrong key, type or name fails naming the key, and the
command line's overrides (`snakemake --config`) become nested keys."""

from __future__ import annotations

import copy

import pytest
import yaml

from avrepro.config import ParamsError, cli_overrides, load_params, load_yaml, resolve


@pytest.fixture()
def raw(root):
    return load_yaml(root / "params.yaml")


@pytest.fixture()
def schema(root):
    return load_yaml(root / "workflow/schemas/params.schema.yaml")


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_every_profile_validates(root, profile):
    cfg = load_params(root / "params.yaml", overrides={"profile": profile})
    assert cfg["profile"] == profile
    assert cfg["binaural"]["train"]["epochs"] >= 1


def test_profile_overrides_common(raw, schema):
    smoke = resolve(raw, {"profile": "smoke"}, schema)
    default = resolve(raw, {"profile": "default"}, schema)
    assert smoke["synthetic"]["n_rooms"] < default["synthetic"]["n_rooms"]
    # keys the profile does not override come from `common`
    assert smoke["binaural"]["audio"] == default["binaural"]["audio"]


def test_unknown_key_is_named(raw, schema):
    bad = copy.deepcopy(raw)
    bad["common"]["binaural"]["train"]["lr_audoi"] = 1e-3
    with pytest.raises(ParamsError, match=r"common\.binaural\.train\.lr_audoi: unknown key"):
        resolve(bad, {"profile": "default"}, schema)


def test_misspelt_engine_train_key_is_named(raw, schema):
    """The engine's train keys are one $defs block that each task's `train` extends: a key that is
    neither the engine's nor the task's still fails (unevaluatedProperties), named."""
    bad = copy.deepcopy(raw)
    bad["common"]["sync"]["train"]["log_evrey"] = 5
    with pytest.raises(ParamsError, match=r"common\.sync\.train\.log_evrey: unknown key"):
        resolve(bad, {"profile": "default"}, schema)
    bad = copy.deepcopy(raw)
    bad["profiles"]["smoke"]["spatial"]["train"]["amp"] = "fp8"
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.spatial\.train\.amp: 'fp8' is not one of"):
        resolve(bad, {"profile": "smoke"}, schema)


def test_engine_train_keys_are_shared(raw, schema):
    """Every task's train block accepts the engine's optional keys (here cpu_amp) through $defs."""
    cfg = resolve(
        raw,
        {
            "profile": "smoke",
            "sync": {"train": {"cpu_amp": True}},
            "binaural": {"train": {"optimizer": "sgd", "momentum": 0.5}},
        },
        schema,
    )
    assert cfg["sync"]["train"]["cpu_amp"] is True and cfg["binaural"]["train"]["optimizer"] == "sgd"


def test_wrong_type_in_profile_is_named(raw, schema):
    bad = copy.deepcopy(raw)
    bad["profiles"]["smoke"]["binaural"]["train"]["epochs"] = "two"
    with pytest.raises(
        ParamsError, match=r"profiles\.smoke\.binaural\.train\.epochs: 'two' is not of type 'integer'"
    ):
        resolve(bad, {"profile": "smoke"}, schema)


def test_unknown_profile(raw, schema):
    with pytest.raises(ParamsError, match="profile 'huge' is not defined"):
        resolve(raw, {"profile": "huge"}, schema)


def test_top_level_dataset_is_gone(raw, schema):
    """Every task chooses its dataset as `<task>.dataset`; the former top-level key is refused."""
    with pytest.raises(ParamsError, match="unknown top-level key 'dataset'"):
        resolve({**raw, "dataset": "fairplay"}, {"profile": "smoke"}, schema)
    cfg = resolve(raw, {"profile": "smoke", "binaural": {"dataset": "fairplay"}}, schema)
    assert "dataset" not in cfg and cfg["binaural"]["dataset"] == "fairplay"


def test_unknown_dataset_is_named(raw, schema):
    with pytest.raises(ParamsError, match=r"binaural\.dataset \(override\): 'music' is not one of"):
        resolve(raw, {"profile": "smoke", "binaural": {"dataset": "music"}}, schema)
    bad = copy.deepcopy(raw)
    bad["common"]["sync"]["dataset"] = "nope"
    with pytest.raises(ParamsError, match=r"common\.sync\.dataset: unknown dataset 'nope' \(known: synth"):
        resolve(bad, {"profile": "smoke"}, schema)


def test_cli_overrides_become_nested_keys():
    """`--config` entries: profile and tasks as given; a dotted key or a section mapping nested,
    with the strings Snakemake leaves in a mapping read as params.yaml reads them."""
    got = cli_overrides(
        {
            "profile": "smoke",
            "tasks": ["sync"],
            "binaural.dataset": "fairplay",
            "binaural.train.epochs": 3,
            "sync": {
                "train": {
                    "epochs": "2",
                    "compile": "true",
                    "grad_clip": "null",
                    "lr_milestones": ["4", "6"],
                    "lr": "0.5",
                },
                "dataset": "synthetic",
            },
        }
    )
    assert got == {
        "profile": "smoke",
        "tasks": ["sync"],
        "binaural": {"dataset": "fairplay", "train": {"epochs": 3}},
        "sync": {
            "train": {"epochs": 2, "compile": True, "grad_clip": None, "lr_milestones": [4, 6], "lr": 0.5},
            "dataset": "synthetic",
        },
    }


def test_cli_overrides_refuse_other_keys():
    with pytest.raises(
        ParamsError,
        match=r"--config: 'dataset=fairplay' is not an override .*"
        r"binaural=\{dataset: fairplay\}",
    ):
        cli_overrides({"dataset": "fairplay"})


def test_misspelt_override_is_named(raw, schema):
    with pytest.raises(ParamsError, match=r"binaural\.datset \(override\): unknown key"):
        resolve(raw, {"profile": "smoke", **cli_overrides({"binaural.datset": "fairplay"})}, schema)


@pytest.mark.parametrize(
    ("change", "config", "message"),
    [
        (("split", "sed", 3), [], "common.split.sed: unknown key"),
        (("sync", "variants", ["fused", "fusd"]), [], "params.yaml: sync.variants: unknown name 'fusd'"),
        (
            ("split", "fractions", {"train": 0.7, "val": 0.2, "test": 0.15}),
            [],
            "common.split.fractions: must sum to 1, got train 0.7 + val 0.2 + test 0.15 = 1.05",
        ),
        (None, ["dataset=fairplay"], "'dataset=fairplay' is not an override of params.yaml"),
    ],
)
def test_snakemake_refuses_bad_params(root, tmp_path, change, config, message):
    """The Snakefile validates at start: a dry run on a bad params file (a key, a variant name,
    fractions that do not sum to 1) or with a `--config` that is no override fails naming the key."""
    import shutil
    import subprocess
    import sys

    for item in ("Snakefile", "workflow"):
        src = root / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    raw = load_yaml(root / "params.yaml")
    if change:
        section, key, value = change
        raw["common"][section][key] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    args = ["--config", *config] if config else []
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_dataset_override_reshapes_the_dag(root):
    """`binaural.dataset: fairplay` (here a dotted key through the API, as `--config
    'binaural={dataset: fairplay}'` gives on the command line) downloads FAIR-Play and caches it
    for binaural; the task's dataset is a DAG key, not in the training job's --cfg."""
    from avrepro.dvcyaml import snakemake_jobs

    jobs = snakemake_jobs(root, config={"binaural.dataset": "fairplay", "tasks": ["binaural"]})
    rules = {(j["rule"], tuple(sorted(j["wildcards"].items()))) for j in jobs}
    assert ("download", (("dataset", "fairplay"),)) in rules
    assert not any(j["rule"] == "synthesize" for j in jobs)
    train = next(j for j in jobs if j["rule"] == "train_binaural")
    assert "data/cache/fairplay/train/binaural" in train["input"]
    assert "binaural.dataset" not in train["params"]["cfg"]
