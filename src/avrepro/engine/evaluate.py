"""Evaluation loop: a trained checkpoint (or a baseline) on the test split -> metric files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from avrepro.engine.checkpoint import load_checkpoint
from avrepro.engine.train import seed_everything, select_device
from avrepro.io import atomic_path, write_json
from avrepro.media import write_wav
from avrepro.tasks import get_task


def evaluate(task_name: str, cfg: dict, name: str, test_cache, checkpoint: Path | None,
             metrics_out: Path, clips_out: Path, predictions_dir: Path | None = None,
             seed: int = 0, device: str | None = None, progress: bool = True,
             threads: int | None = None) -> dict:
    """Evaluate ``name`` (a variant with its ``checkpoint``, or a baseline without one).

    Writes the flat metric JSON (DESIGN 2.1 keys), the per-clip CSV and, for a few clips,
    the predicted audio as float wav files in ``predictions_dir``.
    """
    seed_everything(seed, threads)
    task = get_task(task_name)
    model = None
    if checkpoint is not None:
        dev = select_device(device)
        # the checkpoint replaces every weight: never fetch pretrained ones for evaluation
        build_cfg = {**cfg, "model": {**cfg["model"], "weights": "none"}} if "model" in cfg else cfg
        model = task.build_model(build_cfg, name).to(dev)
        model.load_state_dict(load_checkpoint(checkpoint, dev)["model"])
    summary, rows, predictions = task.evaluate(model, cfg, test_cache, name, progress=progress)
    summary["model"] = name
    with atomic_path(clips_out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False, float_format="%.6g")
    if predictions_dir is not None:
        predictions_dir.mkdir(parents=True, exist_ok=True)
        for clip_id, audio in predictions.items():
            write_wav(predictions_dir / f"{clip_id}.wav", np.asarray(audio, dtype=np.float32),
                      test_cache.sample_rate, subtype="FLOAT")
    write_json(metrics_out, summary)
    keys = [k for k in summary if not k.endswith(("_std", "_sem")) and isinstance(summary[k], float)]
    print(f"{task_name} {name}: " + ", ".join(
        f"{k} {summary[k]:.4f} ± {summary.get(k + '_sem', float('nan')):.4f}" for k in keys))
    return summary
