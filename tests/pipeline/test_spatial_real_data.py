"""The spatial task on real data: a user's own 360 recordings (`datasets.local_360`: equirect
videos and ambiX wavs) and YouTube-360's id and segment lists (`datasets.yt360`, served from
loopback, fetched by a stand-in yt-dlp, one video in YouTube's equi-angular cubemap; split by the
released train and test lists, as the paper). Each is one
`snakemake` call from the source to the report, with the profile's variants; the instrument probe,
which needs the simulator's 360 scene, is left out and the report says so."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from avrepro.media import read_mp4_frames
from avrepro.tasks.spatial.names import PROBE_KEYS
from helpers.fileserver import FileServer
from helpers.project import copy_project, snakemake, task_on
from helpers.view360_fixture import eac_frame, make_360_folder, scene_360, write_foa_video
from helpers.youtube import fake_ytdlp

pytestmark = pytest.mark.slow


def issues(work, dataset: str) -> dict[str, str]:
    with open(work / f"data/raw/{dataset}/download_report.csv", newline="") as fh:
        return {row["clip_id"]: row["reason"] for row in csv.DictReader(fh)}


def player_column(video) -> int:
    """The column where the fixture's red player lights up."""
    frames, _ = read_mp4_frames(video)
    red = (frames[..., 0].astype(int) - frames[..., 1].astype(int)).max(axis=(0, 1))
    return int(np.argmax(red))


def expected_column(azimuth: float, width: int = 128) -> float:
    return (0.5 - azimuth / 360.0) % 1.0 * width


def assert_report_without_probe(work, dataset: str) -> None:
    avc = json.loads((work / "reports/metrics/spatial_avc.json").read_text())
    assert avc["n_clips"] >= 1 and 0 <= avc["avc_accuracy"] <= 1 and "alignment_top1" in avc
    assert not set(PROBE_KEYS) & set(avc)
    report = (work / "reports/report.md").read_text()
    assert f"On `{dataset}`, which the simulator did not make" in report
    assert "the instrument probe is not made" in report and "360 scene's instruments" in report
    assert (work / "reports/figures/spatial/accuracy.png").is_file()


@pytest.fixture(scope="module")
def run_on_folder(tmp_path_factory):
    """A project copy that ran the smoke profile's spatial task on the fixture folder."""
    base = tmp_path_factory.mktemp("mine360")
    azimuths = make_360_folder(base / "my 360", [f"room{k:02d}" for k in range(12)])
    work = copy_project(base / "work")
    snakemake(work, *task_on("spatial", "local_360", f"{{path: '{base / 'my 360'}'}}"))
    return work, base / "my 360", azimuths


def test_own_360_clips_convert_and_the_unusable_ones_are_named(run_on_folder):
    work, folder, azimuths = run_on_folder
    listing = json.loads((work / "data/raw/local_360/dataset.json").read_text())
    assert sorted(listing["clips"]) == sorted([*(f"room{k:02d}" for k in range(12)), "cube"])
    assert issues(work, "local_360") == {
        "flat": "64x64 frames are neither equirectangular (2:1) nor YouTube's equi-angular cubemap (16:9): "
        "not a 360 video this pipeline reads (set the dataset's `projection` if it is one of the two)",
        "stereo": "2-channel audio where 4 channels are expected",
    }
    meta = json.loads((work / "data/raw/local_360/meta/cube.json").read_text())
    assert meta["frame_size"] == [128, 64] and meta["channels"] == 4 and meta["sample_rate"] == 24000
    # the cubemap video, converted, shows its player where its sound comes from
    col = player_column(work / "data/raw/local_360/videos/cube.mp4")
    assert abs(col - expected_column(azimuths["cube"])) <= 4


def test_own_360_clips_run_to_the_report_without_the_probe(run_on_folder):
    assert_report_without_probe(run_on_folder[0], "local_360")


@pytest.fixture(scope="module")
def run_on_yt360(tmp_path_factory):
    """A project copy that ran the smoke profile's spatial task on YouTube-360-style lists served
    from loopback: 12 uploads (one in EAC) and a gone id."""
    base = tmp_path_factory.mktemp("yt360")
    plan, azimuths = {}, {}
    for k in range(12):
        vid = f"pano{k:07d}"
        frames, foa, azimuths[vid] = scene_360(2.0, seed=k)
        if k == 3:  # served as YouTube's equi-angular cubemap
            frames = np.stack([eac_frame(f, (128, 72)) for f in frames])
        plan[vid] = write_foa_video(base / "uploads" / f"{vid}.mov", frames, foa)
    (base / "www").mkdir()
    ids = [*plan, "panoGone000"]
    (base / "www/train.txt").write_text("\n".join(ids[:10] + ids[12:]) + "\n")  # the released lists' names
    (base / "www/test.txt").write_text("\n".join(ids[10:12]) + "\n")
    (base / "www/segments.txt").write_text("\n".join(f"{vid}-0" for vid in ids) + "\n")
    work = copy_project(base / "work")
    with FileServer(base / "www") as server:
        section = (
            f"{{id_lists: ['{server.url}train.txt', '{server.url}test.txt'], "
            f"segments: '{server.url}segments.txt', ytdlp: '{fake_ytdlp(base, plan)}', clip_seconds: 2}}"
        )  # the paper's protocol: its train and test lists (split.official: official)
        snakemake(work, *task_on("spatial", "yt360", section), "split={scheme: official, official: official}")
    return work, azimuths


def test_a_yt360_list_runs_to_the_report_with_the_cubemap_converted(run_on_yt360):
    work, azimuths = run_on_yt360
    listing = json.loads((work / "data/raw/yt360/dataset.json").read_text())
    assert sorted(listing["clips"]) == sorted(f"pano{k:07d}-0" for k in range(12))
    assert issues(work, "yt360") == {"panoGone000-0": "video unavailable"}
    col = player_column(work / "data/raw/yt360/videos/pano0000003-0.mp4")
    assert abs(col - expected_column(azimuths["pano0000003"])) <= 4
    assert_report_without_probe(work, "yt360")


def test_the_released_train_and_test_lists_are_the_split(run_on_yt360):
    work, _ = run_on_yt360
    split = {s: (work / f"data/splits/yt360/{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert split["test"] == ["pano0000010-0", "pano0000011-0"]
    # no validation list is released: a fixed 15 % of the training videos (by the hash of the id)
    assert split["val"] == ["pano0000003-0"]
    assert sorted(split["train"]) == sorted(f"pano{k:07d}-0" for k in range(10) if k != 3)
