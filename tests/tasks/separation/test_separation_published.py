"""MUSIC's published numbers in the separation report: which runs follow the protocol, and the
verdict (within, better, worse than the published number ±1 dB)."""

from __future__ import annotations

import pytest

from avrepro.report.kit import ReportContext
from avrepro.tasks.separation.published import follows_protocol, published_section


def config(dataset: str, n: int = 2, test_window: int | None = None) -> dict:
    audio = {"window": 16383, "hop": 128}
    test = {"window": test_window}
    return {"separation": {"dataset": dataset, "mix": {"n": n}, "audio": audio, "eval": test}}


@pytest.mark.parametrize(
    "cfg, expected",
    [
        (config("music"), True),
        (config("music", n=3), False),
        (config("local_solos"), False),
        (config("synthetic_solo"), False),
    ],
)
def test_follows_protocol(cfg, expected):
    assert follows_protocol(cfg) is expected


def section(cfg: dict, metrics: dict, tmp_path) -> str:
    ctx = ReportContext(cfg, tmp_path / "report.md", tmp_path, tmp_path, tmp_path)
    return "\n".join(published_section(ctx, metrics))


def test_on_music_each_number_gets_a_verdict(tmp_path):
    metrics = {"nmf": {"sdr": 3.5, "sir": 4.0, "sar": 10.5}, "binary": {"sdr": 9.0}}
    text = section(config("music"), metrics, tmp_path)
    assert "- NMF (`nmf`), SDR: 3.50 is **within** the published 2.78 (±1 dB)." in text  # 0.72 dB above
    assert "- NMF (`nmf`), SIR: 4.00 is **worse than** the published 6.70 (±1 dB)." in text
    assert "- NMF (`nmf`), SAR: 10.50 is **better than** the published 9.21 (±1 dB)." in text
    assert "- Sound of Pixels (`binary`), SDR: 9.00 is **better than** the published 7.52 (±1 dB)." in text
    assert "(`binary`), SIR" not in text  # no number of ours, no verdict


def test_elsewhere_the_table_is_shown_without_a_verdict(tmp_path):
    text = section(config("synthetic_solo"), {"nmf": {"sdr": 6.0, "sdr_sem": 0.3}}, tmp_path)
    assert "**not comparable**" in text and "on the `synthetic_solo` dataset" in text
    assert (
        "| NMF | 2.78 | 6.70 | 9.21 | Zhao et al. 2019 (The Sound of Motions), Tab. 1 | `nmf` | 6.00 ± 0.30 |"
        in text
    )
    assert "**within**" not in text and "better than" not in text
    assert "Where our evaluation departs from the official code" in text
    assert "whole 16,383-sample test mixture" in text and "the 16,256 samples its inverse STFT" in text
    longer = section(config("synthetic_solo", test_window=65535), {}, tmp_path)
    assert "whole 65,535-sample test mixture" in longer and "the 65,408 samples its inverse STFT" in longer
    assert "with mixtures of 3" in section(config("music", n=3), {}, tmp_path)
