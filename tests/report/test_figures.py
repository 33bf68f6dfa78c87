"""Figures and tables: every plot writes a PNG from fixture data, bad inputs fail naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from avrepro.figures.curves import plot_loss_curves, read_dvclive_tsv
from avrepro.figures.demo import caption_overlay, plot_metric_distributions, write_demo_mp4
from avrepro.figures.spectrograms import log_spectrogram, plot_binaural_panel
from avrepro.figures.tables import fmt_mean_sem, markdown_table, metrics_table, table_markdown, write_table
from avrepro.media import probe_mp4

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SR = 16000


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 2000, path
    assert not list(path.parent.glob(f".{path.stem}.*tmp*")), "temporary file left behind"


def write_tsv(path: Path, steps, values, timestamp: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = {"step": list(steps), path.stem: list(values)}
    if timestamp:
        cols = {"timestamp": [1_700_000_000 + i for i in range(len(cols["step"]))], **cols}
    pd.DataFrame(cols).to_csv(path, sep="\t", index=False)


def make_live(root: Path, name: str, epochs: int = 8, val: bool = True, floor: float = 0.2) -> Path:
    live = root / name / "live"
    e = np.arange(epochs)
    write_tsv(live / "plots/metrics/train/loss.tsv", e, floor + np.exp(-e / 3))
    if val:
        write_tsv(live / "plots/metrics/val/loss.tsv", e, floor + 0.05 + np.exp(-e / 3))
    return live


def make_metrics(root: Path, values: dict[str, float], sem: float = 0.01, n: int = 20) -> dict[str, Path]:
    files = {}
    for name, v in values.items():
        path = root / f"binaural_{name}.json"
        path.write_text(
            json.dumps(
                {
                    "stft_distance": v,
                    "stft_distance_sem": sem,
                    "stft_distance_std": sem * n**0.5,
                    "env_distance": v / 10,
                    "env_distance_sem": sem / 10,
                    "env_distance_std": 0.0,
                    "n_clips": n,
                    "note": "fixture",
                }
            )
        )
        files[name] = path
    return files


def make_clip_csv(path: Path, mean: float, n: int = 12, seed: int = 0) -> Path:
    v = np.abs(np.random.default_rng(seed).normal(mean, 0.1 * mean, n))
    pd.DataFrame(
        {"clip_id": [f"c{i:03d}" for i in range(n)], "stft_distance": v, "env_distance": v / 10}
    ).to_csv(path, index=False)
    return path


def binaural_fixture(seconds: float = 1.0):
    t = np.arange(int(seconds * SR)) / SR
    src = np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    true = 0.3 * np.stack([src, 0.5 * np.roll(src, 8)])
    return true.astype(np.float32)


# ---------------------------------------------------------------------------------- curves


def test_loss_curves_png_with_missing_val_and_single_point(tmp_path):
    lives = {
        "backbone": make_live(tmp_path, "backbone"),
        "film": make_live(tmp_path, "film", val=False),
        "audio_only": make_live(tmp_path, "audio_only", epochs=1),
    }
    write_tsv(lives["film"] / "plots/metrics/train/loss_s.tsv", range(8), np.linspace(0.7, 0.1, 8))
    out = plot_loss_curves(lives, tmp_path / "fig" / "loss.png", "test curves")
    assert_png(out)
    first = out.read_bytes()
    plot_loss_curves(lives, out, "test curves")
    assert out.read_bytes() == first, "same inputs must give a byte-identical PNG"


def test_loss_curves_missing_train_log_names_file(tmp_path):
    live = make_live(tmp_path, "film")
    (live / "plots/metrics/train/loss.tsv").unlink()
    with pytest.raises(FileNotFoundError, match=r"train/loss\.tsv"):
        plot_loss_curves({"film": live}, tmp_path / "loss.png", "x")
    assert not (tmp_path / "loss.png").exists()


def test_read_dvclive_tsv_accepts_timestamp_and_keeps_last_duplicate(tmp_path):
    path = tmp_path / "loss.tsv"
    write_tsv(path, [0, 1, 2, 1, 2], [5.0, 4.0, 3.0, 3.5, 2.5], timestamp=True)
    df = read_dvclive_tsv(path)
    assert df["step"].tolist() == [0, 1, 2]
    assert df["value"].tolist() == [5.0, 3.5, 2.5]
    bad = tmp_path / "bad.tsv"
    bad.write_text("")
    with pytest.raises(ValueError, match="bad.tsv"):
        read_dvclive_tsv(bad)


# ---------------------------------------------------------------------------------- tables


def test_metrics_table_rows_order_and_relative_change(tmp_path):
    files = make_metrics(tmp_path, {"backbone": 0.8, "film": 0.5, "audio_only": 0.9, "mono_mono": 1.0})
    df = metrics_table(
        files,
        ["stft_distance", "env_distance"],
        reference="mono_mono",
        baselines=["mono_mono"],
        controls=["audio_only"],
    )
    assert df["name"].tolist() == ["mono_mono", "audio_only", "backbone", "film"]
    assert df["kind"].tolist() == ["baseline", "control", "model", "model"]
    rel = dict(zip(df["name"], df["stft_distance_rel_pct"], strict=False))
    assert rel["mono_mono"] == pytest.approx(0.0)
    assert rel["backbone"] == pytest.approx(-20.0)
    assert rel["film"] == pytest.approx(-50.0)
    assert rel["audio_only"] == pytest.approx(-10.0)
    assert "env_distance_rel_pct" not in df.columns  # relative change: first key only by default

    md, csv = tmp_path / "t" / "binaural.md", tmp_path / "t" / "binaural.csv"
    write_table(df, md, csv)
    lines = md.read_text().splitlines()
    assert len(lines) == 2 + 4  # header, rule, one row per input
    row = {ln.split("|")[1].strip(): ln for ln in lines[2:]}
    assert set(row) == set(files)
    assert "-20.0 %" in row["backbone"] and "-50.0 %" in row["film"] and "ref." in row["mono_mono"]
    assert "0.800 ± 0.010" in row["backbone"]
    back = pd.read_csv(csv)
    assert back["name"].tolist() == df["name"].tolist()
    assert back["stft_distance_rel_pct"].tolist() == pytest.approx([0.0, -10.0, -20.0, -50.0])


def test_metrics_table_explicit_order_and_higher_is_better(tmp_path):
    files = {}
    for name, acc in [("a", 0.5), ("b", 0.6)]:
        files[name] = tmp_path / f"sync_{name}.json"
        files[name].write_text(json.dumps({"accuracy": acc, "n_clips": 10}))
    df = metrics_table(files, ["accuracy"], reference="a", order=["b", "a"])
    assert df["name"].tolist() == ["b", "a"]
    assert df["accuracy_rel_pct"].tolist() == pytest.approx([20.0, 0.0])
    assert "Accuracy ↑" in table_markdown(df)


def test_metrics_table_errors_name_the_problem(tmp_path):
    files = make_metrics(tmp_path, {"film": 0.5})
    missing = tmp_path / "binaural_gone.json"
    with pytest.raises(FileNotFoundError, match="binaural_gone.json"):
        metrics_table({**files, "gone": missing}, ["stft_distance"])
    with pytest.raises(ValueError, match="reference 'mono_mono'"):
        metrics_table(files, ["stft_distance"], reference="mono_mono")
    with pytest.raises(ValueError, match="sdr"):
        metrics_table(files, ["sdr"])
    files["film"].write_text(json.dumps({"stft_distance": "high"}))
    with pytest.raises(ValueError, match="binaural_film.json.*stft_distance"):
        metrics_table(files, ["stft_distance"])


def test_markdown_helpers():
    assert fmt_mean_sem(1.0241, 0.0123) == "1.024 ± 0.012"
    assert fmt_mean_sem(float("nan"), 0.1) == "–"
    assert fmt_mean_sem(2.5, None) == "2.5"
    md = markdown_table(["a", "b"], [["x|y", "1"]], ["l", "r"])
    assert md.splitlines()[1] == "| :--- | ---: |"
    assert "x\\|y" in md
    with pytest.raises(ValueError, match="expected 2"):
        markdown_table(["a", "b"], [["only one"]])


# ---------------------------------------------------------------------------------- spectrograms


def test_binaural_panel_png_and_shape_errors(tmp_path):
    true = binaural_fixture()
    preds = {"backbone": 0.2 * true, "film": true[:, :-100] + 0.01}
    out = plot_binaural_panel(true[0] + true[1], true, preds, SR, tmp_path / "spec.png")
    assert_png(out)
    assert log_spectrogram(true[0], 512, 160).shape == (257, 1 + true.shape[1] // 160)
    with pytest.raises(ValueError, match=r"prediction 'film'.*\(2, T\)"):
        plot_binaural_panel(true[0], true, {"film": true[0]}, SR, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="mono"):
        plot_binaural_panel(true, true, {}, SR, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# ---------------------------------------------------------------------------------- demo


def test_demo_mp4_has_video_and_audio_of_the_clip_duration(tmp_path):
    fps, n_frames = 10, 20  # 2.0 s
    frames = np.random.default_rng(0).integers(0, 255, (n_frames, 34, 68, 3), dtype=np.uint8)
    audio = 1.5 * binaural_fixture(2.3)  # longer than the video and clipping: cut and scaled
    out = write_demo_mp4(frames, fps, audio, SR, tmp_path / "demo.mp4", caption="predicted binaural: film")
    info = probe_mp4(out)
    assert info["has_audio"] and info["fps"] == pytest.approx(fps)
    assert info["width"] >= 480 and info["width"] % 2 == 0 and info["height"] % 2 == 0
    with av.open(str(out)) as container:
        a = container.streams.audio[0]
        v = container.streams.video[0]
        assert a.channels == 2 and a.sample_rate == SR
        assert float(v.duration * v.time_base) == pytest.approx(n_frames / fps, abs=0.11)
        assert float(a.duration * a.time_base) == pytest.approx(n_frames / fps, abs=0.11)
    with pytest.raises(ValueError, match=r"demo2.mp4.*\(2, N\)"):
        write_demo_mp4(frames, fps, audio[0], SR, tmp_path / "demo2.mp4")


def test_caption_overlay_is_at_the_bottom():
    rgb, alpha = caption_overlay(200, 100, "predicted binaural: film")
    assert rgb.shape == (100, 200, 3) and alpha.shape == (100, 200, 1)
    assert alpha[:70].max() == 0 and alpha[90:].max() > 0.5


def test_metric_distributions_png_and_errors(tmp_path):
    csvs = {
        n: make_clip_csv(tmp_path / f"binaural_{n}_clips.csv", m, seed=i)
        for i, (n, m) in enumerate([("mono_mono", 1.0), ("film", 0.4)])
    }
    assert_png(plot_metric_distributions(csvs, "stft_distance", tmp_path / "dist.png"))
    with pytest.raises(FileNotFoundError, match="binaural_x_clips.csv"):
        plot_metric_distributions(
            {"x": tmp_path / "binaural_x_clips.csv"}, "stft_distance", tmp_path / "d.png"
        )
    with pytest.raises(ValueError, match="binaural_mono_mono_clips.csv.*'sdr'"):
        plot_metric_distributions(csvs, "sdr", tmp_path / "d.png")
