"""A user's own folder (`datasets.local.path`) is an input like any other: adding, replacing or
removing a clip there makes both `snakemake -n` and `dvc status` name the conversion job, and
nothing else changes while the folder does not."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from helpers.fairplay_fixture import make_fairplay
from helpers.project import DVC, copy_project, run

pytestmark = pytest.mark.slow

RAW = "data/raw/local"


def _snakemake_plans_conversion(work: Path) -> bool:
    out = run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", RAW], work).stdout
    return "Nothing to be done" not in out and re.search(r"^download\s+1\s*$", out, re.M) is not None


def _dvc_changed_stages(work: Path) -> set[str]:
    return set(re.findall(r"^(\w+):", run(["dvc", "status"], work).stdout, re.M))


@pytest.fixture(scope="module")
def local_tree(tmp_path_factory) -> tuple[Path, Path]:
    """A project copy whose binaural task reads a FAIR-Play-layout folder (`local`), in git, with
    dvc.yaml generated for it; the folder converted once through DVC."""
    base = tmp_path_factory.mktemp("local")
    make_fairplay(base / "fixture", n_clips=6)
    folder = base / "fixture/src"
    work = copy_project(base / "work", DVC)
    raw = yaml.safe_load((work / "params.yaml").read_text())
    raw["profile"] = "smoke"
    raw["common"]["tasks"] = ["binaural"]
    raw["common"]["binaural"]["dataset"] = "local"
    raw["common"]["datasets"]["local"]["path"] = str(folder)
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run([sys.executable, "-m", "avrepro.dvcyaml"], work)
    stage = yaml.safe_load((work / "dvc.yaml").read_text())["stages"]["download_local"]
    assert str(folder) in stage["deps"]  # DVC hashes the user's folder
    for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *git], work)
    run(["dvc", "repro", "--quiet", "download_local"], work)
    return work, folder


def _convert_again(work: Path) -> None:
    run(["dvc", "repro", "--quiet", "download_local"], work)
    assert not _snakemake_plans_conversion(work)
    assert "download_local" not in _dvc_changed_stages(work)


def test_an_unchanged_folder_converts_once(local_tree):
    work, _ = local_tree
    assert not _snakemake_plans_conversion(work)
    assert "download_local" not in _dvc_changed_stages(work)
    assert len(list((work / RAW / "videos").glob("*.mp4"))) == 6


@pytest.mark.parametrize("edit", ["add", "replace", "remove"])
def test_a_folder_edit_is_seen_by_snakemake_and_dvc(local_tree, edit):
    work, folder = local_tree
    videos, audios = folder / "videos", folder / "binaural_audios"
    if edit == "add":
        shutil.copy(videos / "000001.mp4", videos / "000100.mp4")
        shutil.copy(audios / "000001.wav", audios / "000100.wav")
    elif edit == "replace":
        shutil.copy(audios / "000003.wav", audios / "000002.wav")
    else:
        (videos / "000100.mp4").unlink()
        (audios / "000100.wav").unlink()
    assert _snakemake_plans_conversion(work)
    assert "download_local" in _dvc_changed_stages(work)
    _convert_again(work)
    expected = 7 if edit in ("add", "replace") else 6
    assert len(list((work / RAW / "videos").glob("*.mp4"))) == expected
