"""Binaural figures and report section from fixture metrics: every figure is drawn, and the
section's table and statements follow the numbers (a term that does not help is said so)."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from avrepro.media import write_wav
from avrepro.report.kit import ReportContext
from avrepro.tasks.binaural.figures import make_figures
from avrepro.tasks.binaural.names import VARIANTS
from avrepro.tasks.binaural.report import binaural_section
from helpers.configs import task_config

SR, FPS = 16000, 10.0
VARIANTS = list(VARIANTS)
CFG = task_config(
    "binaural",
    {
        "variants": VARIANTS,
        "baselines": ["mono_mono"],
        "controls": {"flipped": "full"},
        "eval": {"hop_seconds": 0.05, "demo_variant": "full"},
    },
)
# per-clip STFT distance = base + clip offset: coherence helps (paired), geometry does not
BASE = {
    "mono_mono": 2.5,
    "backbone": 2.4,
    "film": 1.6,
    "audio_only": 2.45,
    "fusion": 1.6,
    "coherence": 1.5,
    "geometry": 1.6,
    "rir": 1.58,
    "full": 1.45,
    "flipped": 3.0,
}


class Clips:
    clip_ids = ["c0", "c1"]
    sample_rate, fps = SR, FPS

    def position(self, clip):
        return self.clip_ids.index(clip)

    def audio_float(self, i):
        tone = np.sin(2 * np.pi * 440 * np.arange(SR) / SR)
        return (0.3 * np.stack([tone, 0.5 * tone])).astype(np.float32)

    def frames(self, i):
        return np.full((10, 34, 68, 3), 40 * (i + 1), dtype=np.uint8)


def write_run(root: Path) -> dict:
    rng = np.random.default_rng(0)
    metrics, models, preds = root / "metrics", root / "models", root / "pred"
    metrics.mkdir()
    offsets = rng.normal(0, 0.3, 40)
    for name, base in BASE.items():
        noise = rng.normal(0, 0.01, 40) if name != "geometry" else rng.normal(0, 0.05, 40)
        df = pd.DataFrame(
            {
                "clip_id": [f"x{i}" for i in range(40)],
                "stft_distance": base + offsets + noise,
                "env_distance": base / 10 + offsets / 10 + noise / 10,
            }
        )
        if name in ("coherence", "full", "flipped"):
            df["coherence_accuracy"] = np.clip(rng.normal(0.9 if name != "flipped" else 0.1, 0.05, 40), 0, 1)
        if name in ("rir", "full", "flipped"):
            df["rir_error"] = rng.normal(5.0, 0.5, 40)
            df["rir_error_mean_baseline"] = rng.normal(9.0, 0.5, 40)
        df.to_csv(metrics / f"binaural_{name}_clips.csv", index=False)
        summary = {"n_clips": 40}
        for key in df.columns[1:]:
            v = df[key].to_numpy()
            summary.update(
                {
                    key: float(v.mean()),
                    f"{key}_std": float(v.std(ddof=1)),
                    f"{key}_sem": float(v.std(ddof=1) / np.sqrt(len(v))),
                }
            )
        (metrics / f"binaural_{name}.json").write_text(json.dumps(summary))
    for v in VARIANTS:
        for split in ("train", "val"):
            d = models / v / "live" / "plots" / "metrics" / split
            d.mkdir(parents=True)
            for comp in ["loss", "difference"] + (["rir"] if v in ("rir", "full") else []):
                (d / f"{comp}.tsv").write_text("step\t" + comp + "\n0\t1.0\n1\t0.7\n2\t0.5\n")
    clips = Clips()
    for name in VARIANTS + ["flipped"]:
        (preds / name).mkdir(parents=True)
        for c in clips.clip_ids:
            write_wav(preds / name / f"{c}.wav", clips.audio_float(0) * 0.9, SR, subtype="FLOAT")
    env = {
        "bands_hz": [0, 2000, 8000],
        "bin_seconds": 0.02,
        "unit": "dB",
        "clips": {"c0": {k: (rng.normal(-20, 5, (2, 2, 5))).tolist() for k in ("true", "pred", "mean")}},
    }
    (preds / "full" / "rir_envelopes.json").write_text(json.dumps(env))
    return {"metrics": metrics, "models": models, "preds": preds, "clips": clips}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("binaural_report")
    paths = write_run(root)
    fig_dir = root / "figures" / "binaural"
    written = make_figures(CFG, paths["clips"], paths["models"], paths["metrics"], paths["preds"], fig_dir)
    return {**paths, "root": root, "written": written, "fig_dir": fig_dir}


def test_every_figure_is_written(run):
    names = {p.name for p in run["written"]}
    assert {
        "loss_curves.png",
        "ablation.png",
        "stft_distance_clips.png",
        "env_distance_clips.png",
        "coherence_accuracy_clips.png",
        "rir_error_clips.png",
        "rir_examples.png",
        "spectrograms_c0.png",
        "spectrograms_c1.png",
        "demo_c0_full.mp4",
        "demo_c1_full.mp4",
    } <= names
    assert len([n for n in names if n.endswith(".mp4")]) == 2
    assert {
        "listen_c0_mono.wav",
        "listen_c0_true.wav",
        "listen_c0_full.wav",
        "listen_c0_flipped.wav",
    } <= names
    assert all(p.is_file() and p.stat().st_size > 0 for p in run["written"])


def test_section_table_statements_and_links(run):
    root = run["root"]
    ctx = ReportContext(
        cfg={"binaural": CFG},
        out_md=root / "report.md",
        metric_dir=run["metrics"],
        figure_dir=root / "figures",
        table_dir=root / "tables",
    )
    md = binaural_section(ctx)
    rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    for name in BASE:
        assert any(ln.startswith(f"| {name} |") for ln in rows), name
    assert (root / "tables" / "binaural_metrics.csv").is_file()
    statements = md.split("### What beat what")[1].split("###")[0]
    assert re.search(r"the coherence term to `fusion` \(`coherence` vs `fusion`\) helps", statements)
    assert re.search(
        r"the geometry term to `fusion` \(`geometry` vs `fusion`\) does not help on this data", statements
    )
    assert "Mirroring the frames" in statements and "uses where the sources are" in statements
    assert "RIR envelope error of `full`" in statements and "better" in statements
    assert "chance 50 %" in statements
    assert "1.024" in md and "0.917" in md and "not comparable" in md
    for link in re.findall(r"\]\(([^)\s]+)\)", md):
        assert (root / urllib.parse.unquote(link)).is_file(), link
    assert "demo_c0_full.mp4" in md and "listen_c1_true.wav" in md
