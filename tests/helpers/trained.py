"""A model directory as a DAG run publishes it (``best.pt`` + ``config.yaml``) without training:
the inference verbs' tests need a model, not a good one."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from avrepro.engine.checkpoint import save_checkpoint
from avrepro.tasks import get_task

DAG_KEYS = ("eval", "dataset", "variants", "baselines", "controls", "init_from", "demo", "left_out")
"""What the train rule leaves out of a task's section (workflow/rules/common.smk TRAIN_EXCLUDE)."""


def untrained_model_dir(task: str, cfg: dict, variant: str, out: Path, seed: int = 0) -> Path:
    """Write ``out/best.pt`` (the freshly initialised weights of ``variant``, seeded) and
    ``out/config.yaml`` (the task section the train rule would pass); return ``out``."""
    torch.manual_seed(seed)
    section = {k: v for k, v in cfg.items() if k not in DAG_KEYS}
    build = {**section, "model": {**section["model"], "weights": "none"}} if "model" in section else section
    model = get_task(task).build_model(build, variant)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "best.pt", {"model": model.state_dict()})
    run = {"task": task, "variant": variant, "epochs": 0, "steps": 0, "device": "cpu", "config": section}
    (out / "config.yaml").write_text(yaml.safe_dump(run, sort_keys=True))
    return out


def run_verb(verb: str, capsys, *args, model_dir) -> tuple[int, dict | None, str]:
    """``avrepro VERB ARGS`` in this process with the model in ``model_dir`` and the smoke profile's
    eval settings: (exit code, the JSON summary or None, stderr)."""
    from avrepro.cli import main
    from helpers import ROOT

    common = ["--model", str(model_dir), "--params", str(ROOT / "params.yaml"), "--profile", "smoke"]
    rc = main([verb, *map(str, args), *common, "--no-progress"])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def verb_setup(task_caches, tmp_path_factory, task: str, variant: str) -> dict:
    """A verb test's session data: the smoke test cache, its raw clips, an untrained ``variant``
    model directory and that model loaded as the verb loads it (smoke eval settings):
    ``{"test", "raw", "model_dir", "model", "cfg"}``."""
    import copy

    from avrepro.data.media_clips import split_clips
    from avrepro.engine.infer import load_trained
    from helpers import ROOT

    got = task_caches(task)
    cfg = copy.deepcopy(got["cfg"][task])
    model_dir = untrained_model_dir(task, cfg, variant, tmp_path_factory.mktemp(f"{task}_model") / variant)
    view = got["view"]
    raw = split_clips(view["manifest"], view["raw"], view["splits"] / "test.txt", 1000)
    model, run_cfg, _ = load_trained(
        get_task(task), model_dir, "cpu", params=ROOT / "params.yaml", profile="smoke"
    )
    return {"test": got["caches"]["test"], "raw": raw, "model_dir": model_dir, "model": model, "cfg": run_cfg}
