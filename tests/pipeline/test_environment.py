"""pyproject.toml and environment.yml pin the same versions, and the top level is the design's."""

from __future__ import annotations

import re
import tomllib

import yaml


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_pins_agree(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    pip_pins = _pins(project["dependencies"])
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = _pins(pip_section)
    assert len(pip_pins) == len(project["dependencies"]), "every dependency must be pinned with =="
    assert pip_pins == conda_pins
    assert pip_pins["torch"] == "2.14.1" and pip_pins["torchvision"] == "0.29.1"
    assert pip_pins["torchaudio"] == "2.11.0"


def test_top_level_layout(root):
    expected = {
        "Snakefile",
        "dvc.yaml",
        "params.yaml",
        "workflow",
        "src",
        "reports",
        "tests",
        "environment.yml",
        "README.md",
        "docs",
        "Makefile",
        "pyproject.toml",
        ".ci",
    }
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout (e.g. an sdist): nothing to check
        return
    top = {p.split("/")[0] for p in tracked if not p.startswith(".") or p.startswith(".ci")}
    assert top <= expected | {"benchmarks"}, f"unexpected top-level entries: {top - expected}"
    assert expected - {"reports"} <= top | {"reports"}


def test_dvc_reads_params_with_the_c_parser_as_we_do(root):
    """DVC parses params.yaml once per parameter dependency (ruamel's safe loader, libyaml-based
    when ruamel.yaml.clib is installed: half the time of `dvc status`); libyaml must accept the
    file and read the values our own loader reads."""
    from ruamel.yaml import YAML

    loader = YAML(typ="safe")
    assert loader.Parser.__name__ == "CParser", loader.Parser
    text = (root / "params.yaml").read_text()
    assert loader.load(text) == yaml.safe_load(text)
