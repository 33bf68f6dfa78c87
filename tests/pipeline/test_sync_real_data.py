"""The sync task on real data: a user's own videos (`datasets.local_videos`) and an
AudioSet-style segment list (`datasets.kinetics`, served from loopback, fetched by a stand-in
yt-dlp). Each is one `snakemake` call from the source to the report, with the profile's default
variants; what could not be used is named with the reason, and the report says what was left out
for lack of the simulator's boxes."""

from __future__ import annotations

import csv
import json

import pytest

from avrepro.tasks import get_task
from avrepro.tasks.sync.names import LOC_KEYS
from helpers.fileserver import FileServer
from helpers.project import copy_project, snakemake, task_on
from helpers.videos_fixture import make_video_folder
from helpers.youtube import fake_ytdlp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_on_videos(tmp_path_factory):
    """A project copy that ran the smoke profile's sync task on the fixture folder."""
    base = tmp_path_factory.mktemp("videos")
    folder = make_video_folder(base / "my videos")
    work = copy_project(base / "work")
    snakemake(
        work, *task_on("sync", "local_videos", f"{{path: '{folder}', clip_seconds: 2, min_seconds: 1.5}}")
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
    too_short = "1.0 s long, shorter than datasets.local_videos.min_seconds (1.5 s)"
    assert reasons[str(folder / "short.mp4")] == too_short


@pytest.fixture(scope="module")
def run_on_audioset_list(tmp_path_factory):
    """A project copy that ran the smoke profile's sync task on an AudioSet-style CSV served from
    loopback: 12 listed videos and a gone one."""
    base = tmp_path_factory.mktemp("audioset")
    folder = make_video_folder(base / "videos", n_videos=12)
    plan = {f"vid{k:08d}": next(folder.rglob(f"clip{k:02d}.*")) for k in range(12)}
    rows = [f'{vid}, 0.000, 4.000, "/m/0clip"' for vid in [*plan, "vidGone0000"]]
    (base / "www").mkdir()
    header = "# AudioSet-style\n# YTID, start_seconds, end_seconds, positive_labels\n"
    (base / "www/segments.csv").write_text(header + "\n".join(rows) + "\n")
    work = copy_project(base / "work")
    with FileServer(base / "www") as server:
        section = f"{{lists: ['{server.url}segments.csv'], ytdlp: '{fake_ytdlp(base, plan)}'}}"
        snakemake(work, *task_on("sync", "kinetics", section))
    return work


def test_an_audioset_list_runs_to_the_report(run_on_audioset_list):
    work = run_on_audioset_list
    listing = json.loads((work / "data/raw/kinetics/dataset.json").read_text())
    assert sorted(listing["clips"]) == [f"vid{k:08d}-0" for k in range(12)]
    with open(work / "data/raw/kinetics/download_report.csv", newline="") as fh:
        issues = [(r["clip_id"], r["reason"]) for r in csv.DictReader(fh)]
    assert issues == [("vidGone0000-0", "video unavailable")]
    fused = json.loads((work / "reports/metrics/sync_fused.json").read_text())
    assert set(get_task("sync").metric_keys) - set(fused) == set(LOC_KEYS)
    report = (work / "reports/report.md").read_text()
    assert "`kinetics`" in report and "no source boxes to score it against" in report


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
