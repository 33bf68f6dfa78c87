"""The report: table rows, a best-variant sentence computed from the numbers, working links."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pytest

from avrepro.report.build import build_report
from avrepro.report.html import markdown_to_html

NAMES = ("mono_mono", "backbone", "film", "audio_only")


def make_cfg() -> dict:
    return {
        "profile": "smoke",
        "seed": 0,
        "split": {"fractions": {"train": 0.7, "val": 0.15, "test": 0.15}, "seed": 0},
        "binaural": {
            "dataset": "synthetic",
            "variants": ["backbone", "film", "audio_only"],
            "baselines": ["mono_mono"],
        },
    }


def make_run(root: Path, stft: dict[str, float], figures: bool = True) -> dict[str, Path]:
    metric_dir, figure_dir = root / "reports" / "metrics", root / "reports" / "figures"
    metric_dir.mkdir(parents=True)
    for name, v in stft.items():
        data = {
            "stft_distance": v,
            "stft_distance_sem": 0.01,
            "stft_distance_std": 0.1,
            "env_distance": v / 10,
            "env_distance_sem": 0.001,
            "env_distance_std": 0.01,
            "n_clips": 30,
        }
        if name == "backbone":
            data["note"] = "visual vector tiled at the bottleneck | published net"
        (metric_dir / f"binaural_{name}.json").write_text(json.dumps(data))
    if figures:
        fig = figure_dir / "binaural"
        fig.mkdir(parents=True)
        for name in (
            "loss_curves.png",
            "spectrograms_c001.png",
            "stft_distance_clips.png",
            "demo_c001_film.mp4",
            "demo_c001_true.mp4",
        ):
            (fig / name).write_bytes(b"fixture")
    return {
        "out_md": root / "reports" / "report.md",
        "metric_dir": metric_dir,
        "figure_dir": figure_dir,
        "table_dir": root / "reports" / "tables",
    }


def links(md: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", md)


def test_report_table_best_variant_and_links(tmp_path):
    paths = make_run(tmp_path, {"mono_mono": 1.0, "backbone": 0.95, "film": 0.5, "audio_only": 0.9})
    extra = {"seed": 0, "visual_weights": "ImageNet weights unavailable offline: trained from scratch"}
    md = build_report(make_cfg(), extra=extra, **paths)
    assert paths["out_md"].read_text() == md
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    for name in NAMES:
        assert sum(ln.startswith(f"| {name} |") for ln in rows) == 1, name
    film_row = next(ln for ln in rows if ln.startswith("| film |"))
    assert "0.500 ± 0.010" in film_row and "-50.0 %" in film_row
    assert "best variant is `film`" in md
    assert "50.0 % lower (better) than mono-mono" in md
    assert "44.4 % lower (better) than audio-only" in md  # (0.5 - 0.9) / 0.9
    assert "ImageNet weights unavailable offline: trained from scratch" in md
    assert "Profile `smoke`" in md and "`synthetic`" in md
    assert "1.024" in md and "0.917" in md and "0.145" in md and "0.137" in md
    assert "on the `synthetic` dataset: they are **not comparable**" in md
    assert "published net" in md  # the note, its pipe escaped inside markdown
    found = links(md)
    assert any(link.endswith("loss_curves.png") for link in found)
    assert any(link.endswith("spectrograms_c001.png") for link in found)
    assert any(link.endswith("demo_c001_film.mp4") for link in found)
    for link in found:
        assert not link.startswith("/"), link
        assert (paths["out_md"].parent / urllib.parse.unquote(link)).is_file(), link
    assert (paths["table_dir"] / "binaural_metrics.md").is_file()
    assert (paths["table_dir"] / "binaural_metrics.csv").is_file()
    html = paths["out_md"].with_suffix(".html").read_text()
    assert "<table>" in html and '<img src="figures/binaural/loss_curves.png"' in html


def test_best_variant_is_computed_not_hard_coded(tmp_path):
    paths = make_run(
        tmp_path, {"mono_mono": 1.0, "backbone": 0.6, "film": 0.8, "audio_only": 0.5}, figures=False
    )
    md = build_report(make_cfg(), **paths)
    # audio_only is a control: the best *variant* is backbone, and it loses to audio-only
    assert "best variant is `backbone`" in md
    assert "40.0 % lower (better) than mono-mono" in md
    assert "20.0 % higher (worse) than audio-only" in md
    assert "No figures found" in md


def test_no_variant_beats_mono_mono_is_stated(tmp_path):
    paths = make_run(
        tmp_path, {"mono_mono": 1.0, "backbone": 1.005, "film": 1.2, "audio_only": 1.1}, figures=False
    )
    md = build_report(make_cfg(), **paths)
    assert "best variant is `backbone`" in md
    assert "0.5 % higher (worse) than mono-mono" in md and "(within noise)" in md
    assert "No variant beats mono-mono" in md


def test_report_is_deterministic_and_html_is_escaped(tmp_path):
    paths = make_run(tmp_path, {"mono_mono": 1.0, "backbone": 0.95, "film": 0.5, "audio_only": 0.9})
    extra = {"note": "<script>alert(1)</script> & [x](javascript:alert(1))"}
    md1 = build_report(make_cfg(), extra=extra, **paths)
    html1 = paths["out_md"].with_suffix(".html").read_text()
    md2 = build_report(make_cfg(), extra=extra, **paths)
    assert md1 == md2 and html1 == paths["out_md"].with_suffix(".html").read_text()
    assert "<script>" not in html1 and "&lt;script&gt;" in html1
    assert "javascript:" not in re.findall(r'href="([^"]*)"', html1)


def test_missing_metric_file_is_named(tmp_path):
    paths = make_run(tmp_path, {"mono_mono": 1.0, "backbone": 0.95, "film": 0.5})
    with pytest.raises(FileNotFoundError, match="binaural_audio_only.json"):
        build_report(make_cfg(), **paths)


def test_unknown_task_is_named(tmp_path):
    paths = make_run(
        tmp_path, {"mono_mono": 1.0, "backbone": 0.95, "film": 0.5, "audio_only": 0.9}, figures=False
    )
    with pytest.raises(KeyError, match="unknown task 'nope'"):
        build_report(make_cfg(), tasks=["nope"], **paths)


def test_markdown_to_html_subset():
    html = markdown_to_html(
        "# T\n\npara **b** `c<d>`\n\n- one\n- two\n\n| a | b |\n| :--- | ---: |\n"
        "| 1 \\| 2 | 3 |\n\n![alt](fig/x.png)\n"
    )
    assert "<h1>T</h1>" in html and "<strong>b</strong>" in html and "<code>c&lt;d&gt;</code>" in html
    assert "<li>one</li>" in html and '<td style="text-align:right">3</td>' in html
    assert '<td style="text-align:left">1 | 2</td>' in html
    assert '<img src="fig/x.png" alt="alt">' in html
