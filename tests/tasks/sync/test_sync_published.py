"""Owens & Efros' published shift-detection accuracy in the sync report: which runs follow the
protocol, and the verdict (within, better, worse than 59.9 % ±5 points)."""

from __future__ import annotations

import pytest

from avrepro.report.kit import ReportContext
from avrepro.tasks.sync.published import follows_protocol, published_section


def config(dataset: str, seconds: float = 4.2) -> dict:
    return {"sync": {"dataset": dataset, "sample": {"seconds": seconds}}}


@pytest.mark.parametrize(
    "cfg, expected",
    [(config("kinetics"), True), (config("kinetics", 1.5), False), (config("local_videos"), False)],
)
def test_follows_protocol(cfg, expected):
    assert follows_protocol(cfg) is expected


def section(cfg: dict, metrics: dict, tmp_path) -> str:
    ctx = ReportContext(cfg, tmp_path / "report.md", tmp_path, tmp_path, tmp_path)
    return "\n".join(published_section(ctx, metrics))


@pytest.mark.parametrize("accuracy, word", [(0.62, "within"), (0.52, "worse than"), (0.70, "better than")])
def test_on_audioset_the_accuracy_gets_a_verdict(accuracy, word, tmp_path):
    text = section(config("kinetics"), {"fused": {"accuracy": accuracy}}, tmp_path)
    expected = (
        f"- Multisensory (full model) (`fused`), accuracy: {accuracy:.3f} is **{word}** the published 0.599"
    )
    assert expected in text


def test_elsewhere_no_verdict(tmp_path):
    text = section(config("synthetic", 1.5), {"fused": {"accuracy": 0.9}}, tmp_path)
    assert "**not comparable**" in text and "`synthetic` dataset" in text and "1.5-s samples" in text
    assert "**within**" not in text and "better than" not in text
    assert "Where our evaluation departs from the official code" in text and "logit's bias" in text
