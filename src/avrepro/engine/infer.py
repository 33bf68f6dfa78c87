"""The inference verbs' shared part: find a trained model, load it with its configuration, run
the task's :meth:`~avrepro.tasks.base.Task.infer` on a user's media."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
import yaml

from avrepro.config import ParamsError, load_params, load_yaml
from avrepro.engine.evaluate import load_model
from avrepro.engine.runtime import select_device
from avrepro.io import atomic_dir, read_json, write_json


def best_variant(task, models_dir: Path, metrics_dir: Path) -> str:
    """The trained variant of ``task`` (a ``best.pt`` under ``models_dir/<task>/``) with the best
    :attr:`~avrepro.tasks.base.Task.primary_metric` in ``metrics_dir``; without metric files,
    the last trained variant in the task's order.

    Raises:
        FileNotFoundError: no trained variant of the task under ``models_dir``.
    """
    trained = [v for v in task.variants if (models_dir / task.name / v / "best.pt").is_file()]
    if not trained:
        raise FileNotFoundError(
            f"{models_dir / task.name}: no trained {task.name} model (best.pt); run the pipeline "
            f"(`make repro`), fetch one with `dvc pull`, or pass --model DIR"
        )
    key, direction = task.primary_metric
    scores = {}
    for v in trained:
        path = metrics_dir / f"{task.name}_{v}.json"
        value = read_json(path).get(key) if path.is_file() else None
        if isinstance(value, int | float) and math.isfinite(value):
            scores[v] = value if direction == "max" else -value
    return max(scores, key=scores.get) if scores else trained[-1]


def eval_section(task_name: str, run_cfg: dict, params: Path, profile: str | None) -> dict:
    """The ``eval`` section the model's run was evaluated with: from the profile of ``params``
    whose task section (without ``eval``) equals the model's training section, else from
    ``profile`` (default: the file's own). Empty when ``params`` does not exist."""
    if not params.is_file():
        return {}
    profiles = [profile] if profile else [None, *sorted((load_yaml(params) or {}).get("profiles") or {})]
    fallback = None
    for name in profiles:
        try:
            section = load_params(params, {"profile": name} if name else None).get(task_name) or {}
        except ParamsError:
            continue
        fallback = fallback if fallback is not None else section
        if all(section.get(k) == v for k, v in run_cfg.items()):
            return section.get("eval") or {}
    return (fallback or {}).get("eval") or {}


def load_trained(
    task, model_dir: Path, device: str | None, *, eval_cfg: dict | None = None, params=None, profile=None
):
    """The model in ``model_dir`` (``best.pt`` + ``config.yaml`` of a DAG run), its section with
    the ``eval`` settings (``eval_cfg``, else those of ``params``: :func:`eval_section`), and its
    variant name.

    Raises:
        FileNotFoundError: ``model_dir`` lacks ``best.pt`` or ``config.yaml``.
        ValueError: the model belongs to another task.
    """
    for name in ("best.pt", "config.yaml"):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"{model_dir}: no {name} (not a trained model directory)")
    run = yaml.safe_load((model_dir / "config.yaml").read_text())
    if run.get("task") != task.name:
        raise ValueError(f"{model_dir}: a {run.get('task')!r} model, not a {task.name} one")
    if eval_cfg is None:
        eval_cfg = eval_section(task.name, run["config"], Path(params), profile) if params else {}
    cfg = {**run["config"], "eval": eval_cfg}
    model = load_model(task, cfg, run["variant"], model_dir / "best.pt", select_device(device))
    model.eval()
    return model, cfg, run["variant"]


def run_infer(task, args: argparse.Namespace) -> dict:
    """Run ``task``'s verb as ``args`` asks (``--model`` or the best variant of the last run)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = Path(args.model) if args.model else None
    if model_dir is None:
        models = Path(args.models)
        variant = args.variant or best_variant(task, models, Path(args.metrics))
        model_dir = models / task.name / variant
    model, cfg, variant = load_trained(task, model_dir, args.device, params=args.params, profile=args.profile)
    with torch.inference_mode():
        summary = task.infer(model, cfg, args, progress=not args.no_progress)
    return {"task": task.name, "model": str(model_dir), "variant": variant, **summary}


def run_demo(task, model_dir: Path, eval_cfg: dict, clips: list[dict], out_dir: Path, **kwargs) -> dict:
    """The DAG's ``demo`` stage: ``task``'s verb on held-out ``clips`` with the model in
    ``model_dir`` -> media files and ``demo.json`` in ``out_dir`` (written atomically, whole).
    ``kwargs``: ``device``, ``progress``."""
    model, cfg, variant = load_trained(task, model_dir, kwargs.get("device"), eval_cfg=eval_cfg)
    with atomic_dir(out_dir) as tmp, torch.inference_mode():
        shown = task.demo(model, cfg, clips, tmp, progress=kwargs.get("progress", True))
        shown = {"task": task.name, "verb": task_verb(task.name), "variant": variant, **shown}
        write_json(tmp / "demo.json", shown)
    return shown


def task_verb(task_name: str) -> str | None:
    """The inference verb of a registered task (None when it has none)."""
    from avrepro.tasks import task_verbs

    return next((verb for verb, (name, _) in task_verbs().items() if name == task_name), None)
