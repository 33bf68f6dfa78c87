"""A real dataset from download to report: a tiny FAIR-Play in its official layout (tarballs, .h5
splits with another machine's absolute paths) served from loopback, chosen on the command line
(`--config 'binaural={dataset: fairplay}'`), the official split1: first the data stage (a rerun of
it has nothing to do), then the rest of the DAG with the smoke profile's binaural variants as they
are, to a report that sets the published numbers of the 10-random-splits protocol beside ours,
with a verdict. A folder in the same layout (`local`): test_pipeline.py's mixed-run test."""

from __future__ import annotations

import csv
import json
import re
import sys

import pytest
import yaml

from helpers.fairplay_fixture import make_fairplay
from helpers.fileserver import FileServer
from helpers.project import copy_project, run, snakemake

pytestmark = pytest.mark.slow

FAIRPLAY = "binaural={dataset: fairplay}"  # Snakemake's --config refuses dotted keys (binaural.dataset)
CACHES = [f"data/cache/fairplay/{split}/binaural" for split in ("train", "val", "test")]


def test_fairplay_fixture_from_download_to_report(tmp_path):
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
        snakemake(work, "--config", FAIRPLAY)
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
    # the smoke profile's own variants and the flipped control ran on the real data as they are
    for name in ("backbone", "full", "flipped", "mono_mono"):
        assert (work / f"reports/metrics/binaural_{name}.json").is_file(), name
    report = (work / "reports/report.md").read_text()
    published = report.split("### Published numbers (FAIR-Play)", 1)[1]
    assert "10 random splits protocol on one of its splits (`split1`)" in published
    assert "| Mono2Binaural | 0.836-0.959 | 0.132-0.141 |" in published
    line = r"^- Mono2Binaural \(`backbone`\), STFT: [0-9.]+ is \*\*(\w[\w ]*)\*\* the published "
    verdicts = re.findall(line, published, re.M)
    assert verdicts and verdicts[0] in ("within", "better than", "worse than")
