"""Config errors name the file, the line and the key: YAML syntax errors, numbers written as
``1e-3`` (read as floats, and today's params.yaml loads to the same values), strings that look
like numbers, and the cross-field rules checked at start (split fractions, batch vs GPUs, crops,
curricula, ranges)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import yaml

from avrepro.config import (
    ParamsError,
    ParamsLoader,
    cli_overrides,
    config_hash,
    load_params,
    load_yaml,
    resolve,
)


@pytest.fixture()
def params_text(root) -> str:
    return (root / "params.yaml").read_text()


@pytest.fixture()
def write_params(root, tmp_path):
    """``write_params(text)`` -> a params.yaml in a tree with the project's schema."""
    schema = tmp_path / "workflow/schemas/params.schema.yaml"
    schema.parent.mkdir(parents=True)
    shutil.copy(root / "workflow/schemas/params.schema.yaml", schema)

    def write(text: str):
        path = tmp_path / "params.yaml"
        path.write_text(text)
        return path

    return write


def _edit(text: str, old: str, new: str) -> tuple[str, int]:
    """``text`` with its one line holding ``old`` replaced, and that line's number (1-based)."""
    assert text.count(old) == 1, old
    line = text[: text.index(old)].count("\n") + 1
    return text.replace(old, new), line


def _smoke(text: str) -> str:
    return text.replace("profile: default ", "profile: smoke   ", 1)


def test_yaml_syntax_error_names_line_and_column(params_text, write_params):
    text, line = _edit(params_text, "    n_rooms: 150 ", "    n_rooms: 150: x")
    with pytest.raises(ParamsError, match=rf"params\.yaml:{line}:17: not valid YAML: mapping values are not"):
        load_params(write_params(text))
    text, line = _edit(params_text, "  verify:\n", "  verify\n")
    with pytest.raises(ParamsError, match=rf"params\.yaml:{line + 1}:\d+: not valid YAML: could not find"):
        load_params(write_params(text))


def test_duplicate_key_is_refused(params_text, write_params):
    text, line = _edit(params_text, "    n_rooms: 150 ", "    n_rooms: 150\n    n_rooms: 151 ")
    with pytest.raises(
        ParamsError,
        match=rf":{line + 1}:5: duplicate key 'n_rooms' in common\.synthetic \(first at line {line}\)",
    ):
        load_params(write_params(text))


def test_exponent_numbers_are_floats(params_text, write_params):
    """``1e-3``, ``2E-2`` and ``1.5e3`` are floats (YAML 1.2), in the file and in --config."""
    text, _ = _edit(params_text, "      lr: 0.02\n", "      lr: 2E-2\n")
    text = text.replace("lr_audio: 1.0e-3 ", "lr_audio: 1e-3   ", 1)
    cfg = load_params(write_params(text))
    assert cfg["sync"]["train"]["lr"] == 0.02 and cfg["binaural"]["train"]["lr_audio"] == 0.001
    assert yaml.load("[1e-3, 1.5e3, -3E5, 1.0e-3, 7, 1_0, '1e-3', e5, 1e]", Loader=ParamsLoader) == [
        0.001,
        1500.0,
        -300000.0,
        0.001,
        7,
        10,
        "1e-3",
        "e5",
        "1e",
    ]
    assert cli_overrides({"sync": {"train": {"lr": "1e-3"}}}) == {"sync": {"train": {"lr": 0.001}}}


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_todays_params_load_as_before(root, profile):
    """The loader reads params.yaml exactly as ``yaml.safe_load`` (YAML 1.1) did, so no configuration
    hash changes: the raw tree (JSON, which tells 1 from 1.0 and True) and each profile's hash."""
    before = yaml.safe_load((root / "params.yaml").read_text())
    assert json.dumps(load_yaml(root / "params.yaml"), sort_keys=True) == json.dumps(before, sort_keys=True)
    schema = load_yaml(root / "workflow/schemas/params.schema.yaml")
    old = resolve(before, {"profile": profile}, schema)
    assert config_hash(load_params(root / "params.yaml", {"profile": profile})) == config_hash(old)


def test_number_in_quotes_says_how_to_write_it(params_text, write_params):
    text, line = _edit(params_text, "      lr: 0.02\n", "      lr: '2e-2'\n")
    with pytest.raises(
        ParamsError,
        match=rf"params\.yaml:{line}: common\.sync\.train\.lr: '2e-2' is not of type 'number' "
        r"\(a string: write 0\.02 or 2\.0e-2, without quotes\)",
    ):
        load_params(write_params(text))


def test_schema_error_in_a_profile_names_its_line(params_text, write_params):
    old = "      train: {epochs: 2, batch_size: 4, windows_per_clip: 1"
    text, line = _edit(params_text, old, old.replace("batch_size: 4", "batch_size: four"))
    with pytest.raises(
        ParamsError,
        match=rf"params\.yaml:{line}: profiles\.smoke\.binaural\.train\.batch_size: 'four' is not of type",
    ):
        load_params(write_params(_smoke(text)))


def test_split_fractions_must_sum_to_one(params_text, write_params):
    old = "fractions: {train: 0.70, val: 0.15, test: 0.15}"
    text, line = _edit(params_text, old, "fractions: {train: 0.70, val: 0.2, test: 0.15}")
    with pytest.raises(
        ParamsError,
        match=rf"params\.yaml:{line}: common\.split\.fractions: must sum to 1, "
        r"got train 0\.7 \+ val 0\.2 \+ test 0\.15 = 1\.05",
    ):
        load_params(write_params(text))
    with pytest.raises(ParamsError, match=r"split\.fractions \(override\): must sum to 1"):
        load_params(write_params(params_text), {"split": {"fractions": {"train": 0.8}}})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"binaural": {"train": {"gpus": 3}}},
            r"common\.binaural\.train\.batch_size: 16 does not divide across binaural\.train\.gpus = 3",
        ),
        (
            {"profile": "smoke", "binaural": {"frames": {"crop_width": 72}}},
            r"binaural\.frames\.crop_width \(override\): 72 is larger than "
            r"binaural\.features\.frame_width = 68",
        ),
        (
            {"separation": {"eval": {"window": 8191}}},
            r"separation\.eval\.window \(override\): 8191 is shorter than separation\.audio\.window = 16383",
        ),
        (
            {"separation": {"model": {"frame_stages": 2, "output_stride": 16}}},
            r"separation\.model\.output_stride \(override\): 16 is coarser than the frame net's stride "
            r"after separation\.model\.frame_stages = 2 residual stages \(8;",
        ),
        (
            {"separation": {"eval": {"map_output_stride": 16}}},
            r"separation\.eval\.map_output_stride \(override\): 16 is coarser than "
            r"separation\.model\.output_stride = 4",
        ),
        (
            {"profile": "smoke", "spatial": {"variants": ["avsa_curriculum"]}},
            r"common\.spatial\.init_from: 'avsa_curriculum' starts from 'avc', which spatial\.variants "
            r"\(avsa_curriculum\) does not train",
        ),
        (
            {"binaural": {"frames": {"jitter": [1.3, 0.7]}}},
            re.escape("binaural.frames.jitter (override): [1.3, 0.7] must not decrease (a range is [low,"),
        ),
        (
            {"synthetic": {"sources": {"min": 2, "max": 1}}},
            re.escape("synthetic.sources (override): min (2) must not exceed max (1)"),
        ),
    ],
)
def test_cross_field_rules_fail_at_start(root, overrides, message):
    with pytest.raises(ParamsError, match=message):
        load_params(root / "params.yaml", overrides)
