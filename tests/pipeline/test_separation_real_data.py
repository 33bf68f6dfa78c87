"""The separation task on real data: a user's own solo videos, one sub-folder per instrument
(`datasets.local_solos`), and MUSIC's json list (`datasets.music`, served from loopback, fetched by
a stand-in yt-dlp). Each is one `snakemake` call from the source to the report, with the profile's
variants; the report says that the sound maps could not be scored (no boxes) and, on MUSIC, gives
the published numbers with a verdict."""

from __future__ import annotations

import csv
import json

import pytest

from avrepro.tasks.separation.names import LOCALIZATION_KEYS
from helpers.fileserver import FileServer
from helpers.project import copy_project, snakemake, task_on
from helpers.solos_fixture import CLASSES, make_solo_folder
from helpers.youtube import fake_ytdlp

pytestmark = pytest.mark.slow


def issues(work, dataset: str) -> dict[str, str]:
    with open(work / f"data/raw/{dataset}/download_report.csv", newline="") as fh:
        return {row["clip_id"]: row["reason"] for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def run_on_solos(tmp_path_factory):
    """A project copy that ran the smoke profile's separation task on the fixture folder."""
    base = tmp_path_factory.mktemp("solos")
    folder = make_solo_folder(base / "my solos")
    work = copy_project(base / "work")
    snakemake(work, *task_on("separation", "local_solos", f"{{path: '{folder}', clip_seconds: 2}}"))
    return work, folder


def test_each_video_is_labelled_by_its_sub_folder(run_on_solos):
    work, folder = run_on_solos
    listing = json.loads((work / "data/raw/local_solos/dataset.json").read_text())
    assert sorted(listing["clips"]) == sorted(
        f"{c}{k}-{s}" for c in CLASSES for k in range(4) for s in (0, 2)
    )
    meta = json.loads((work / "data/raw/local_solos/meta/cello2-2.json").read_text())
    assert meta["label"] == "cello" and meta["group"] == "cello2" and meta["channels"] == 1
    assert meta["sample_rate"] == 11025 and meta["fps"] == 8
    assert issues(work, "local_solos") == {
        "loose": "not in an instrument sub-folder (its name is the clip's label)"
    }


def test_own_solos_run_to_the_report_without_box_scores(run_on_solos):
    work, _ = run_on_solos
    binary = json.loads((work / "reports/metrics/separation_binary.json").read_text())
    assert binary["n_mixtures"] >= 1 and "sdr" in binary
    assert not set(LOCALIZATION_KEYS) & set(binary)  # no boxes: no localization scores
    report = (work / "reports/report.md").read_text()
    assert "On `local_solos`, which the simulator did not make" in report
    assert "the dataset has no instrument boxes to score them against" in report
    assert "**not comparable**" in report and "| NMF | 2.78 | 6.70 | 9.21 |" in report
    assert list((work / "reports/figures/separation").glob("localization_binary_mix*.png"))


@pytest.fixture(scope="module")
def run_on_music(tmp_path_factory):
    """A project copy that ran the smoke profile's separation task on a MUSIC-style json list
    served from loopback: 4 videos per instrument and a gone one."""
    base = tmp_path_factory.mktemp("music")
    folder = make_solo_folder(base / "videos")
    # YouTube-like ids whose hash split leaves clips of every class for the test split
    plan = {f"{cls[:3]}{k:04d}abcd": folder / cls / f"{cls}{k}.mp4" for cls in CLASSES for k in range(4)}
    videos = {cls: [vid for vid in plan if vid.startswith(cls[:3])] for cls in CLASSES}
    videos["violin"].append("vioGone0000")
    (base / "www").mkdir()
    (base / "www/MUSIC_solo_videos.json").write_text(json.dumps({"videos": videos}))
    work = copy_project(base / "work")
    with FileServer(base / "www") as server:
        section = (
            f"{{lists: ['{server.url}MUSIC_solo_videos.json'], ytdlp: '{fake_ytdlp(base, plan)}', "
            "clip_seconds: 2, clips_per_video: 2}"
        )
        snakemake(work, *task_on("separation", "music", section))
    return work


def test_a_music_list_runs_to_the_report_with_the_published_verdict(run_on_music):
    work = run_on_music
    listing = json.loads((work / "data/raw/music/dataset.json").read_text())
    assert len(listing["clips"]) == 24
    assert json.loads((work / "data/raw/music/meta/flu0001abcd-2.json").read_text())["label"] == "flute"
    assert issues(work, "music") == {
        "vioGone0000-0": "video unavailable",
        "vioGone0000-2": "video unavailable",
    }
    report = (work / "reports/report.md").read_text()
    assert "On `music`, which the simulator did not make" in report
    assert "Our run follows the published protocol" in report
    nmf = json.loads((work / "reports/metrics/separation_nmf.json").read_text())
    assert f"- NMF (`nmf`), SDR: {nmf['sdr']:.2f} is **" in report
    assert "- Sound of Pixels (`binary`), SDR: " in report
