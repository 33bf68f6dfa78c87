"""params.yaml: profiles resolve, and a wrong key or type fails naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from avrepro.config import ParamsError, load_params, load_yaml, resolve


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


def test_wrong_type_in_profile_is_named(raw, schema):
    bad = copy.deepcopy(raw)
    bad["profiles"]["smoke"]["binaural"]["train"]["epochs"] = "two"
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.binaural\.train\.epochs: 'two' is not of type 'integer'"):
        resolve(bad, {"profile": "smoke"}, schema)


def test_unknown_profile(raw, schema):
    with pytest.raises(ParamsError, match="profile 'huge' is not defined"):
        resolve(raw, {"profile": "huge"}, schema)


def test_snakemake_refuses_bad_params(root, tmp_path):
    """The Snakefile validates at start: a dry run on a bad params file fails naming the key."""
    import shutil
    import subprocess

    for item in ("Snakefile", "workflow"):
        src = root / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / item)
    raw = load_yaml(root / "params.yaml")
    raw["common"]["split"]["sed"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    import sys

    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "common.split.sed: unknown key" in proc.stdout + proc.stderr
