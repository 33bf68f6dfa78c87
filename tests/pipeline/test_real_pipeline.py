"""A real-dataset source through the data stage: a tiny FAIR-Play in its official layout
(tarballs, .h5 splits with another machine's absolute paths) served from loopback, chosen on the
command line (`--config 'binaural={dataset: fairplay}'`), the official split1, cached for the
binaural task; the rest of the DAG as Snakemake plans it (the smoke profile's binaural variants as
they are). The whole DAG on a folder in the same layout, to the report, is
test_pipeline.py::test_runs_in_one_tree_never_mix."""

from __future__ import annotations

import csv
import json
import sys

import pytest
import yaml

from helpers.fairplay_fixture import make_fairplay
from helpers.fileserver import FileServer
from helpers.project import copy_project, run, snakemake

pytestmark = pytest.mark.slow

FAIRPLAY = "binaural={dataset: fairplay}"  # Snakemake's --config refuses dotted keys (binaural.dataset)
CACHES = [f"data/cache/fairplay/{split}/binaural" for split in ("train", "val", "test")]


def test_fairplay_fixture_downloads_splits_and_caches(tmp_path):
    fixture = tmp_path / "fixture"
    www = make_fairplay(fixture, n_clips=9)
    work = copy_project(tmp_path / "work")
    with FileServer(www) as server:
        raw = yaml.safe_load((work / "params.yaml").read_text())
        raw["profile"] = "smoke"
        raw["common"]["split"]["scheme"] = "official"
        raw["common"]["split"]["official"] = "split1"
        raw["common"]["datasets"]["fairplay"]["base_url"] = server.url
        raw["common"]["tasks"] = ["binaural"]  # the other tasks read synthetic data
        (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        snakemake(work, *CACHES, "--config", FAIRPLAY)  # --config takes every word after it
        dry_run = [sys.executable, "-m", "snakemake", "-n", "--cores", "2"]
        dry = run([*dry_run, *CACHES, "--config", FAIRPLAY], work).stdout
        assert "Nothing to be done" in dry, dry
        plan = run([*dry_run, "--config", FAIRPLAY], work).stdout
    assert [p for p, _ in server.requests] == ["/videos.tar.gz", "/audios.tar.gz", "/splits.tar.gz"]
    listing = json.loads((work / "data/raw/fairplay/dataset.json").read_text())
    assert len(listing["clips"]) == 9 and listing["splits"] == ["split1"]
    splits = {
        s: (work / f"data/splits/fairplay/{s}.txt").read_text().split() for s in ("train", "val", "test")
    }
    assert splits["test"] == ["000008", "000009"] and splits["val"] == ["000006", "000007"]
    assert len(json.loads((work / CACHES[2] / "index.json").read_text())["clips"]) == 2
    with open(work / "reports/data_issues/fairplay.csv") as fh:
        assert list(csv.DictReader(fh)) == []
    # the smoke profile's own variants and the flipped control, planned on the real data as they are
    for output in ("models/binaural/backbone/best.pt", "models/binaural/full/best.pt"):
        assert output in plan, plan
    for name in ("backbone", "full", "flipped", "mono_mono"):
        assert f"reports/metrics/binaural_{name}.json" in plan, (name, plan)
