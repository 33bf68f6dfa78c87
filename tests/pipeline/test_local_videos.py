"""The sync task on a user's own videos (`datasets.local_videos`): one `snakemake` call from the
folder to the report, with the default variants of the profile; the files it could not use are
named with the reason, and the report says what was left out for lack of the simulator's boxes."""

from __future__ import annotations

import csv
import json

import pytest

from avrepro.tasks import get_task
from avrepro.tasks.sync.names import LOC_KEYS
from helpers.project import copy_project, snakemake
from helpers.videos_fixture import make_video_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_on_videos(tmp_path_factory):
    """A project copy that ran the smoke profile's sync task on the fixture folder."""
    base = tmp_path_factory.mktemp("videos")
    folder = make_video_folder(base / "my videos")
    work = copy_project(base / "work")
    snakemake(
        work,
        "--config",
        "profile=smoke",
        "tasks=[sync]",
        "sync={dataset: local_videos}",
        f"datasets={{local_videos: {{path: '{folder}', clip_seconds: 2}}}}",
    )
    return work, folder


def test_every_usable_video_is_cut_into_clips_and_the_rest_is_named(run_on_videos):
    work, folder = run_on_videos
    listing = json.loads((work / "data/raw/local_videos/dataset.json").read_text())
    assert sorted(listing["clips"]) == sorted(f"clip{k:02d}-{s}" for k in range(8) for s in (0, 2))
    meta = json.loads((work / "data/raw/local_videos/meta/clip01-2.json").read_text())
    assert meta["group"] == "clip01" and meta["source_file"] == str(folder / "holiday/clip01.MOV")
    assert meta["channels"] == 1 and meta["fps"] == 10 and meta["start_s"] == 2.0
    with open(work / "data/raw/local_videos/download_report.csv", newline="") as fh:
        reasons = {row["file"]: row["reason"] for row in csv.DictReader(fh)}
    assert reasons[str(folder / "silent.mp4")] == "no audio stream"
    assert "invalid clip name" in reasons[str(folder / "bad name.mp4")]


def test_the_report_has_the_accuracies_and_says_what_was_left_out(run_on_videos):
    work, _ = run_on_videos
    report = (work / "reports/report.md").read_text()
    assert "## Audio-visual synchronisation" in report and "## Binaural" not in report
    assert "`local_videos`" in report and "no source boxes to score it against" in report
    assert "which the simulator did not make" in report and "boxes in the frames" in report
    fused = json.loads((work / "reports/metrics/sync_fused.json").read_text())
    assert fused["n_clips"] >= 1 and 0 <= fused["accuracy"] <= 1
    assert set(get_task("sync").metric_keys) - set(fused) == set(LOC_KEYS)  # all but the box scores
    assert (work / "reports/figures/sync/accuracy.png").is_file()
    assert list((work / "reports/figures/sync").glob("cam_best_*.png"))  # the maps, without boxes
