"""The published FAIR-Play numbers in the report: which protocol a run follows, and the verdict on
where a number falls against a published range (within, better, worse)."""

from __future__ import annotations

import pytest

from avrepro.report.kit import ReportContext, range_verdict
from avrepro.tasks.binaural.published import protocol, published_section


@pytest.mark.parametrize(
    "value, lower_is_better, expected",
    [
        (0.90, True, "within"),  # inside the range
        (0.80, True, "within"),  # below it, inside the 5 % tolerance (0.836 - 4.2 %)
        (0.70, True, "better than"),  # below it: a distance, lower is better
        (1.10, True, "worse than"),  # above it
        (0.70, False, "worse than"),  # a score (higher is better) below the range
        (1.10, False, "better than"),
    ],
)
def test_range_verdict(value, lower_is_better, expected):
    assert range_verdict(value, 0.836, 0.959, lower_is_better, tolerance=0.05) == expected


def test_a_single_published_number_is_a_range_by_the_tolerance():
    assert range_verdict(-2.0, -2.0, -2.0, lower_is_better=False) == "within"
    assert range_verdict(-2.2, -2.0, -2.0, lower_is_better=False, tolerance=0.05) == "worse than"
    assert range_verdict(-2.05, -2.0, -2.0, lower_is_better=False, tolerance=0.05) == "within"


def config(dataset: str, scheme: str = "official", split: str = "split1") -> dict:
    return {"binaural": {"dataset": dataset}, "split": {"scheme": scheme, "official": split}}


@pytest.mark.parametrize(
    "cfg, expected",
    [
        (config("fairplay"), "10 random splits"),
        (config("fairplay", split="split10"), "10 random splits"),
        (config("fairplay", split="scene3"), "5 scene-disjoint splits"),
        (config("fairplay", split="mysplit"), None),
        (config("fairplay", scheme="hash"), None),
        (config("local"), None),  # the same layout, not the paper's recordings
        (config("synthetic", scheme="hash"), None),
    ],
)
def test_protocol(cfg, expected):
    assert protocol(cfg) == expected


def context(cfg: dict, tmp_path) -> ReportContext:
    return ReportContext(cfg, tmp_path / "report.md", tmp_path, tmp_path, tmp_path)


def test_on_a_published_protocol_each_number_gets_a_verdict(tmp_path):
    metrics = {
        "mono_mono": {"stft_distance": 1.30, "env_distance": 0.150},
        "backbone": {"stft_distance": 0.93, "env_distance": 0.139},
    }
    text = "\n".join(published_section(context(config("fairplay"), tmp_path), metrics))
    assert "10 random splits protocol on one of its splits (`split1`)" in text
    assert "scene-disjoint" not in text
    assert "- mono-mono (`mono_mono`), STFT: 1.300 is **worse than** the published 1.155 (±5 %)." in text
    assert "- mono-mono (`mono_mono`), ENV: 0.150 is **within** the published 0.153 (±5 %)." in text
    assert "- Mono2Binaural (`backbone`), STFT: 0.930 is **within** the published 0.836-0.959 (±5 %)." in text


def test_elsewhere_both_protocols_are_shown_without_a_verdict(tmp_path):
    metrics = {"backbone": {"stft_distance": 0.5, "env_distance": 0.1}}
    text = "\n".join(published_section(context(config("synthetic", scheme="hash"), tmp_path), metrics))
    assert "10 random splits:" in text and "5 scene-disjoint splits:" in text
    assert "**not comparable**" in text and "on the `synthetic` dataset" in text
    assert "**within**" not in text and "better than" not in text
    assert "Where our evaluation departs from the official code" in text and "stale window" in text
