"""Evaluation: a trained checkpoint (``task.evaluate``) or a baseline (``task.baseline``) on the test
split -> the metric JSON, the per-clip CSV and the predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from avrepro.engine.checkpoint import load_checkpoint
from avrepro.engine.runtime import seed_everything, select_device
from avrepro.io import atomic_path, record_contents, write_json
from avrepro.media import write_wav
from avrepro.tasks import get_task


def write_predictions(predictions: dict, out_dir: Path, sample_rate: int) -> list[Path]:
    """Write a task's predictions: ``name.npy`` -> ``np.save``, ``name.json`` -> JSON, a name
    without a suffix -> ``name.wav`` (float audio at ``sample_rate``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, value in predictions.items():
        path = out_dir / name
        if path.suffix == ".npy":
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.asarray(value))
        elif path.suffix == ".json":
            write_json(path, value)
        elif not path.suffix:
            path = out_dir / f"{name}.wav"
            write_wav(path, np.asarray(value, dtype=np.float32), sample_rate, subtype="FLOAT")
        else:
            raise ValueError(f"prediction {name!r}: suffix must be .npy, .json or none (wav)")
        written.append(path)
    record_contents(out_dir)
    return written


def evaluate(
    task_name: str,
    cfg: dict,
    name: str,
    test_cache,
    checkpoint: Path | None,
    metrics_out: Path,
    clips_out: Path,
    predictions_dir: Path | None = None,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
    threads: int | None = None,
    variant: str | None = None,
    train_cache=None,
) -> dict:
    """Evaluate ``name``: a variant with its ``checkpoint``, a control (``name`` evaluated with
    the checkpoint of ``variant``, e.g. flipped frames), or a baseline without a checkpoint.

    Writes the flat metric JSON (DESIGN 2.1 keys), the per-clip CSV and the task's predictions
    in ``predictions_dir`` (see :func:`write_predictions`). ``train_cache`` reaches the task's
    ``evaluate`` / ``baseline`` as ``train=`` (probes, NMF bases) when given.
    """
    seed_everything(seed, threads)
    task = get_task(task_name)
    if checkpoint is not None:
        model = load_model(task, cfg, variant or name, checkpoint, select_device(device))
        summary, rows, predictions = task.evaluate(
            model, cfg, test_cache, name, train=train_cache, progress=progress
        )
    else:
        summary, rows, predictions = task.baseline(
            name, cfg, test_cache, train=train_cache, progress=progress
        )
    summary["model"] = name
    with atomic_path(clips_out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.6g")
    if predictions_dir is not None:
        write_predictions(predictions, predictions_dir, test_cache.sample_rate)
    write_json(metrics_out, summary)
    print(f"{task_name} {name}: {headline(summary)}")
    return summary


def load_model(task, cfg: dict, variant: str, checkpoint: Path, dev: torch.device) -> torch.nn.Module:
    """The plain model of ``variant`` with the weights of ``checkpoint`` (which replaces every
    weight: pretrained ones are never fetched for evaluation)."""
    build_cfg = {**cfg, "model": {**cfg["model"], "weights": "none"}} if "model" in cfg else cfg
    model = task.build_model(build_cfg, variant).to(dev)
    model.load_state_dict(load_checkpoint(checkpoint, dev)["model"])
    return model


def headline(summary: dict) -> str:
    """``key mean ± sem`` of every float in ``summary`` that is not a spread."""
    keys = [k for k in summary if not k.endswith(("_std", "_sem")) and isinstance(summary[k], float)]
    return ", ".join(f"{k} {summary[k]:.4f} ± {summary.get(k + '_sem', float('nan')):.4f}" for k in keys)
