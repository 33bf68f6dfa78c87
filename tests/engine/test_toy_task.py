"""Adding a task touches only its own code: a toy task defined here (a linear model on a window of
a cache's audio), registered with ``register_task``, goes through ``avrepro train``, ``evaluate``
(a variant and a baseline), ``figures`` and ``report`` with no change to the engine, the CLI, the
report or the workflow."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import Dataset

from avrepro import tasks
from avrepro.cli import main
from avrepro.metrics.summary import summarize
from avrepro.report.kit import task_table
from avrepro.tasks.base import Task

WINDOW = 64


class ToyWindows(Dataset):
    """The first ``WINDOW`` samples of each clip: the left channel predicts the right one's mean
    absolute value."""

    def __init__(self, cache):
        self.cache = cache

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i: int) -> dict:
        audio = torch.from_numpy(np.ascontiguousarray(self.cache.audio_float(i)[:, :WINDOW]))
        return {"x": audio[0].float(), "y": audio[-1].abs().mean().float()}

    def set_epoch(self, epoch: int) -> None:
        pass


class ToyTask(Task):
    name = "toy"
    variants = ("linear",)
    baselines = ("zero",)
    metric_keys = ("error",)
    figures = {"curves": "curves.png"}

    def build_model(self, cfg, variant):
        return nn.Linear(cfg["model"]["window"], 1)

    def param_groups(self, model, cfg):
        return [{"params": list(model.parameters()), "lr": cfg["train"]["lr"]}]

    def datasets(self, cfg, train, val, variant, seed):
        return ToyWindows(train), ToyWindows(val)

    def losses(self, model, batch, cfg):
        assert type(model) is nn.Linear  # the plain model, never the engine's wrapper
        error = model(batch["x"]).squeeze(-1) - batch["y"]
        return {"loss": error.pow(2).mean(), "abs_error": error.abs().mean().detach()}

    def _evaluation(self, test, predict):
        data = ToyWindows(test)
        rows = [
            {"clip_id": test.clip_ids[i], "error": abs(predict(data[i]["x"]) - float(data[i]["y"]))}
            for i in range(len(data))
        ]
        return summarize(rows, self.metric_keys), rows, {"errors.npy": [r["error"] for r in rows]}

    @torch.no_grad()
    def evaluate(self, model, cfg, test, name, *, train=None, progress=True):
        model.eval()
        return self._evaluation(test, lambda x: float(model(x)))

    def baseline(self, name, cfg, test, *, train=None, progress=True):
        return self._evaluation(test, lambda x: 0.0)

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.figures.curves import plot_loss_curves

        lives = {v: models_dir / v / "live" for v in cfg["variants"]}
        return [plot_loss_curves(lives, out_dir / self.figures["curves"], title="Toy task")]

    def report_section(self, ctx):
        files = ctx.metric_files(self.name, self.evaluated_names(ctx.cfg[self.name]))
        _, table = task_table(ctx, self.name, files, list(self.metric_keys))
        return "## Toy task\n\nA linear model of the right channel's level.\n\n" + table


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setattr(tasks, "_REGISTRY", dict(tasks._REGISTRY))  # restored after the test
    tasks.register_task("toy", ToyTask)


def _toy_cfg(smoke: dict) -> dict:
    """The toy's section: the binaural cache's features, the smoke profile's engine keys."""
    train = {
        **smoke["binaural"]["train"],
        "lr": 1e-2,
        "epochs": 2,
        "batch_size": 2,
        "checkpoint_every": 2,
        "threads": 1,
        "num_workers": 0,
    }
    return {
        "features": smoke["binaural"]["features"],
        "model": {"window": WINDOW},
        "train": train,
        "variants": ["linear"],
        "baselines": ["zero"],
    }


def test_toy_task_through_every_entry_point(toy_registered, task_caches, tmp_path):
    got = task_caches("binaural")
    caches, cfg = got["caches"], _toy_cfg(got["cfg"])
    cache_dir = {split: str(c.cache_dir) for split, c in caches.items()}
    models, metrics, preds = tmp_path / "models/toy", tmp_path / "metrics", tmp_path / "predictions/toy"
    run = models / "linear"
    assert (
        main(
            [
                "train",
                "--task",
                "toy",
                "--variant",
                "linear",
                "--cfg",
                json.dumps(cfg),
                "--train",
                cache_dir["train"],
                "--val",
                cache_dir["val"],
                "--out",
                str(run),
                "--seed",
                "1",
                "--device",
                "cpu",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert {p.name for p in run.iterdir()} == {"best.pt", "last.pt", "config.yaml", "live"}
    summary = yaml.safe_load((run / "config.yaml").read_text())
    assert summary["task"] == "toy" and summary["epochs"] == 2 and summary["threads"] == 1
    assert (run / "live/plots/metrics/train/abs_error.tsv").is_file()

    for name, extra in (("linear", ["--checkpoint", str(run / "best.pt")]), ("zero", [])):
        assert (
            main(
                [
                    "evaluate",
                    "--task",
                    "toy",
                    "--name",
                    name,
                    "--cfg",
                    json.dumps(cfg),
                    "--test",
                    cache_dir["test"],
                    "--metrics",
                    str(metrics / f"toy_{name}.json"),
                    "--clips",
                    str(metrics / f"toy_{name}_clips.csv"),
                    "--predictions",
                    str(preds / name),
                    "--device",
                    "cpu",
                    *extra,
                ]
            )
            == 0
        )
        result = json.loads((metrics / f"toy_{name}.json").read_text())
        assert {"error", "error_std", "error_sem", "n_clips"} <= set(result)
        assert result["n_clips"] == len(caches["test"]) and result["model"] == name
        assert len(np.load(preds / name / "errors.npy")) == len(caches["test"])

    figures = tmp_path / "figures"
    assert (
        main(
            [
                "figures",
                "--task",
                "toy",
                "--cfg",
                json.dumps(cfg),
                "--test",
                cache_dir["test"],
                "--models",
                str(models),
                "--metrics",
                str(metrics),
                "--predictions",
                str(preds),
                "--out",
                str(figures / "toy"),
            ]
        )
        == 0
    )
    assert (figures / "toy/curves.png").stat().st_size > 0

    report = tmp_path / "report.md"
    full = {"profile": "smoke", "dataset": "synthetic", "tasks": ["toy"], "toy": cfg}
    assert (
        main(
            [
                "report",
                "--cfg",
                json.dumps(full),
                "--models",
                str(tmp_path / "models"),
                "--metrics",
                str(metrics),
                "--figures",
                str(figures),
                "--tables",
                str(tmp_path / "tables"),
                "--issues",
                str(tmp_path / "no_issues"),
                "--manifests",
                str(tmp_path / "no_manifests"),
                "--out",
                str(report),
            ]
        )
        == 0
    )
    text = report.read_text()
    assert "## Toy task" in text and "| zero |" in text.replace("`", "") and "toy/linear" in text.lower()
    assert (tmp_path / "tables/toy_metrics.csv").is_file() and report.with_suffix(".html").is_file()
