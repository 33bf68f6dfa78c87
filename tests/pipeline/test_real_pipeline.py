"""The whole DAG on a real-dataset source: a tiny FAIR-Play in its official layout (tarballs, .h5
splits with another machine's absolute paths) served from loopback, chosen on the command line
(`--config 'binaural={dataset: fairplay}'`), the official split1, the smoke profile's binaural
variants as they are, through to the report."""

from __future__ import annotations

import csv
import json
import sys
import time

import pytest
import yaml

from helpers.fairplay_fixture import make_fairplay
from helpers.fileserver import FileServer
from helpers.project import copy_project, run, snakemake

pytestmark = pytest.mark.slow

FAIRPLAY = "binaural={dataset: fairplay}"  # Snakemake's --config refuses dotted keys (binaural.dataset)


def test_fairplay_fixture_runs_to_a_report(tmp_path):
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
        start = time.monotonic()
        snakemake(work, "--config", FAIRPLAY)
        seconds = time.monotonic() - start
        print(f"fixture FAIR-Play DAG: {seconds:.0f} s")
        dry = run(
            [sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--config", FAIRPLAY], work
        ).stdout
    assert "Nothing to be done" in dry, dry
    assert [p for p, _ in server.requests] == ["/videos.tar.gz", "/audios.tar.gz", "/splits.tar.gz"]
    listing = json.loads((work / "data/raw/fairplay/dataset.json").read_text())
    assert len(listing["clips"]) == 9 and listing["splits"] == ["split1"]
    splits = {
        s: (work / f"data/splits/fairplay/{s}.txt").read_text().split() for s in ("train", "val", "test")
    }
    assert splits["test"] == ["000008", "000009"] and splits["val"] == ["000006", "000007"]
    report = (work / "reports/report.md").read_text()
    assert "fairplay" in report and "## Binaural" in report
    # the smoke profile's own variants (backbone, full, the flipped control) run as they are;
    # full without its RIR head (FAIR-Play has no simulated RIRs), and the report says so
    metrics = json.loads((work / "reports/metrics/binaural_full.json").read_text())
    assert metrics["n_clips"] == 2 and "rir_error" not in metrics
    assert (work / "reports/metrics/binaural_flipped.json").is_file()
    assert "`full` trained and evaluated without what needs the simulated room impulse" in report
    with open(work / "reports/data_issues/fairplay.csv") as fh:
        assert list(csv.DictReader(fh)) == []
