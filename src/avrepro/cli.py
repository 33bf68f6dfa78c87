"""The ``avrepro`` command: one sub-command per pipeline step (each Snakemake rule calls one).

Rules pass the exact configuration section they depend on as JSON (``--cfg``), so Snakemake's
params tracking reruns exactly what a params change touches.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from avrepro.io import NoSpaceError, record_contents
from avrepro.runguard import remove_stale_lock, watch_snakemake


def _json(text: str) -> dict:
    """``--cfg``: a JSON object."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--cfg is not valid JSON: {exc}") from None


def cmd_synthesize(args) -> None:
    """``avrepro synthesize``: the embedded synthetic dataset."""
    from avrepro.data.synthetic import generate

    generate(args.cfg, Path(args.out), seed=args.seed, workers=args.workers)


def cmd_verify(args) -> None:
    """``avrepro verify``: the manifest and the data-issues report of a raw dataset."""
    from avrepro.data.verify import verify_dataset

    verify_dataset(
        Path(args.raw), args.dataset, args.cfg, Path(args.manifest), Path(args.issues), workers=args.workers
    )


def cmd_split(args) -> None:
    """``avrepro split``: the train/val/test clip lists (hashed, or the dataset's official ones)."""
    from avrepro.data.split import official_split, split_manifest

    if args.cfg.get("scheme", "hash") == "official":
        if not args.raw:
            raise ValueError("split scheme 'official' needs --raw (the raw dataset with splits/)")
        official_split(Path(args.manifest), Path(args.raw), str(args.cfg["official"]), Path(args.out))
    else:
        split_manifest(Path(args.manifest), args.cfg, Path(args.out))


def cmd_download(args) -> None:
    """``avrepro download``: a real dataset in the raw layout (section from --cfg or --params)."""
    from avrepro.data.sources import fetch_dataset

    cfg = args.cfg
    if cfg is None:
        from avrepro.config import load_params

        resolved = load_params(args.params, {"profile": args.profile} if args.profile else None)
        if args.dataset not in resolved["datasets"]:
            raise ValueError(f"{args.params}: no datasets.{args.dataset} section")
        cfg = resolved["datasets"][args.dataset]
    summary = fetch_dataset(
        args.dataset,
        cfg,
        Path(args.out),
        Path(args.downloads) if args.downloads else None,
        workers=args.workers,
        progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2, sort_keys=True))


def cmd_cache(args) -> None:
    """``avrepro cache``: one split's feature cache."""
    from avrepro.data.cache import build_cache

    build_cache(Path(args.manifest), Path(args.raw), Path(args.split_file), Path(args.out), args.cfg)


def _open_cache(path: str, cfg: dict):
    """The feature cache at ``path``, checked against the section's ``features``."""
    from avrepro.data.cache import FeatureCache

    return FeatureCache(Path(path), expect=cfg.get("features"))


def cmd_train(args) -> None:
    """``avrepro train``: one variant (under torchrun when ``train.gpus > 1``)."""
    import os

    from avrepro.engine import ddp

    # train.gpus > 1: run this same command on that many processes under torchrun (DDP)
    argv = args.argv if getattr(args, "argv", None) is not None else sys.argv[1:]
    launch = ddp.launch_argv(int(args.cfg["train"].get("gpus", 1)), list(argv))
    if launch is not None:
        print("launching: " + " ".join(launch[:6]) + " ...", flush=True)
        sys.stdout.flush()
        os.execv(launch[0], launch)

    from avrepro.engine.train import train
    from avrepro.tasks import get_task

    final = train(
        get_task(args.task),
        args.cfg,
        args.variant,
        _open_cache(args.train, args.cfg),
        _open_cache(args.val, args.cfg),
        Path(args.out),
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        init=args.init,
    )
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(final, indent=2, sort_keys=True))


def cmd_evaluate(args) -> None:
    """``avrepro evaluate``: a variant, control or baseline -> metric files."""
    from avrepro.engine.evaluate import evaluate

    evaluate(
        args.task,
        args.cfg,
        args.name,
        _open_cache(args.test, args.cfg),
        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
        metrics_out=Path(args.metrics),
        clips_out=Path(args.clips),
        predictions_dir=Path(args.predictions) if args.predictions else None,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        variant=args.variant,
        train_cache=_open_cache(args.train, args.cfg) if args.train else None,
    )


def cmd_figures(args) -> None:
    """``avrepro figures``: the task's figures, through its ``make_figures``."""
    from avrepro.tasks import get_task

    written = get_task(args.task).make_figures(
        args.cfg,
        _open_cache(args.test, args.cfg),
        Path(args.models),
        Path(args.metrics),
        Path(args.predictions),
        Path(args.out),
    )
    record_contents(args.out)
    print(f"figures {args.task}: {len(written)} files -> {args.out}")


def cmd_demo(args) -> None:
    """``avrepro demo``: a task's inference verb on held-out test clips (the DAG's demo stage)."""
    from avrepro.data.media_clips import split_clips
    from avrepro.engine.infer import run_demo
    from avrepro.engine.runtime import seed_everything
    from avrepro.tasks import demo_variant, get_task

    seed_everything(args.seed, args.threads)
    clips = split_clips(args.manifest, args.raw, args.split_file, args.cfg["demo"]["clips"])
    model_dir = Path(args.models) / args.task / demo_variant(args.task, args.cfg)
    shown = run_demo(
        get_task(args.task), model_dir, args.cfg["eval"], clips, Path(args.out), device=args.device
    )
    print(f"demo {args.task}: {len(shown['items'])} items -> {args.out}")


def training_facts(models: Path, cfg: dict) -> dict[str, str]:
    """``{"<task>/<variant>": "N epochs, M steps on DEVICE[, visual weights: ...]"}`` from the
    ``config.yaml`` of every variant the configuration ``cfg`` trains (models of other runs
    that share the folder are not this run's)."""
    import yaml

    facts = {}
    for task in cfg.get("tasks", []):
        for variant in cfg.get(task, {}).get("variants") or []:
            cfg_file = models / task / variant / "config.yaml"
            if not cfg_file.is_file():
                continue
            run = yaml.safe_load(cfg_file.read_text())
            epochs, steps = run["epochs"], run["steps"]
            line = f"{epochs} epoch{'s' * (epochs != 1)}, {steps} step{'s' * (steps != 1)} on {run['device']}"
            if run.get("visual_weights") not in (None, "n/a"):
                line += f", visual weights: {run['visual_weights']}"
            facts[f"{run['task']}/{run['variant']}"] = line
    return facts


def cmd_report(args) -> None:
    """``avrepro report``: the report and its tables."""
    from avrepro.report.build import build_report

    build_report(
        args.cfg,
        Path(args.out),
        Path(args.metrics),
        Path(args.figures),
        Path(args.tables),
        extra=training_facts(Path(args.models), args.cfg),
        issues_dir=Path(args.issues),
        manifest_dir=Path(args.manifests),
        demo_dir=Path(args.demos),
    )
    record_contents(args.tables)
    print(f"report -> {args.out}")


def cmd_unlock_stale(args) -> None:
    """``avrepro unlock-stale``: remove the lock a killed Snakemake left (none runs here)."""
    removed = remove_stale_lock(Path(args.dir))
    if removed:
        print(f"removed a stale Snakemake lock in {Path(args.dir).resolve()} (no Snakemake runs there)")


def cmd_stale(args) -> None:
    """``avrepro stale``: outputs of other configurations (listed, or removed with --remove)."""
    from snakemake.cli import parse_config

    from avrepro.config import cli_overrides
    from avrepro.stale import remove_stale, stale_outputs

    config = parse_config(args.config)  # as `snakemake --config` reads it
    cli_overrides(config)  # refused keys are named before the DAG is built
    stale = stale_outputs(Path(args.dir), config)
    for rel in stale:
        print(rel.as_posix())
    if args.remove:
        remove_stale(Path(args.dir), stale)
    what = "removed" if args.remove else "not made by this configuration (remove them with --remove)"
    print(f"{len(stale)} stale output(s) {what}", file=sys.stderr)


def cmd_infer(args) -> None:
    """``avrepro <verb>``: a trained model of the verb's task on the user's media."""
    from avrepro.engine.infer import run_infer
    from avrepro.tasks import get_task

    print(json.dumps(run_infer(get_task(args.task), args), indent=2, sort_keys=True))


DESCRIPTION = (
    "The avrepro command. Use a trained model on your own videos with binauralize, separate, "
    "sync and locate; the other commands are the pipeline's steps (each Snakemake rule calls "
    "one and passes the configuration section it depends on as JSON, --cfg)."
)


def _verb(sub, name: str, func, help_: str) -> argparse.ArgumentParser:
    """A sub-command ``name`` that runs ``func(args)``."""
    parser = sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")
    parser.set_defaults(func=func)
    return parser


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """``--seed``, ``--device`` and ``--threads`` of a step that runs a model."""
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (the rule's threads)")


def _add_synthesize(sub) -> None:
    p = _verb(sub, "synthesize", cmd_synthesize, "generate the embedded synthetic dataset")
    p.add_argument("--cfg", type=_json, required=True, help="the `synthetic` params section (JSON)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the scenes (default 0)")
    p.add_argument("--workers", type=int, default=1, help="processes (the output does not depend on it)")
    p.add_argument("--out", required=True, help="the raw dataset directory to write")


def _add_verify(sub) -> None:
    p = _verb(sub, "verify", cmd_verify, "check every clip; write the manifest and the data-issues report")
    p.add_argument("--raw", required=True, help="the raw dataset directory")
    p.add_argument("--dataset", required=True, help="the dataset's name (as in params.yaml)")
    p.add_argument("--cfg", type=_json, required=True, help="the `verify` params section (JSON)")
    p.add_argument("--manifest", required=True, help="the manifest CSV to write (the clips kept)")
    p.add_argument("--issues", required=True, help="the issues CSV to write (the clips excluded, why)")
    p.add_argument("--workers", type=int, default=1, help="processes checking clips (default 1)")


def _add_split(sub) -> None:
    p = _verb(sub, "split", cmd_split, "grouped, hash-based, stable train/val/test split")
    p.add_argument("--manifest", required=True, help="the dataset's manifest CSV")
    p.add_argument("--cfg", type=_json, required=True, help="the `split` params section (JSON)")
    p.add_argument("--out", required=True, help="directory for train.txt, val.txt and test.txt")
    p.add_argument("--raw", default=None, help="raw dataset (for scheme 'official': its splits/)")


def _add_download(sub) -> None:
    p = _verb(sub, "download", cmd_download, "fetch a real dataset and convert it into the raw layout")
    p.add_argument(
        "--dataset",
        required=True,
        help="fairplay | local | local_videos | local_solos | local_360 | music | yt360 | kinetics",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--cfg", type=_json, help="the `datasets.<name>` params section (JSON)")
    src.add_argument("--params", help="or a params file: its datasets.<name> section is used")
    p.add_argument("--profile", default=None, help="with --params: the profile (default: the file's)")
    p.add_argument("--out", required=True, help="data/raw/<dataset> (replaced atomically)")
    p.add_argument(
        "--downloads",
        default=None,
        help="where archives and partial downloads are kept (default data/downloads/<dataset>)",
    )
    p.add_argument("--workers", type=int, default=1, help="conversion processes")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_cache(sub) -> None:
    p = _verb(sub, "cache", cmd_cache, "decode one split into memory-mappable feature shards")
    p.add_argument("--manifest", required=True, help="the dataset's manifest CSV")
    p.add_argument("--raw", required=True, help="the raw dataset directory")
    p.add_argument(
        "--split-file", required=True, help="the split's clip list (e.g. data/splits/<dataset>/train.txt)"
    )
    p.add_argument("--cfg", type=_json, required=True, help="the task's `features` section (JSON)")
    p.add_argument("--out", required=True, help="the feature cache directory to write")


def _add_train(sub) -> None:
    p = _verb(sub, "train", cmd_train, "train one variant of a task")
    p.add_argument("--task", required=True, help="the task's registered name (e.g. binaural)")
    p.add_argument("--variant", required=True, help="one of the task's variants")
    p.add_argument("--cfg", type=_json, required=True, help="the task's params section (JSON)")
    p.add_argument("--train", required=True, help="training feature cache directory")
    p.add_argument("--val", required=True, help="validation feature cache directory")
    p.add_argument(
        "--out", required=True, help="models/<task>/<variant> (best.pt, last.pt, config.yaml, live/)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (the rule's threads; default: the section's train.threads)",
    )
    p.add_argument(
        "--init", default=None, help="best.pt of another variant to start from (a curriculum's first stage)"
    )


def _add_evaluate(sub) -> None:
    p = _verb(sub, "evaluate", cmd_evaluate, "evaluate a trained variant or a baseline on the test split")
    p.add_argument("--task", required=True, help="the task's registered name (e.g. binaural)")
    p.add_argument("--name", required=True, help="variant, control or baseline name")
    p.add_argument("--cfg", type=_json, required=True, help="the task's params section (JSON)")
    p.add_argument("--test", required=True, help="test feature cache directory")
    p.add_argument("--checkpoint", default=None, help="best.pt of a trained variant (none: baseline)")
    p.add_argument(
        "--variant", default=None, help="the variant the checkpoint belongs to when --name is a control of it"
    )
    p.add_argument("--train", default=None, help="training feature cache (for probes)")
    p.add_argument("--metrics", required=True, help="the metric JSON to write")
    p.add_argument("--clips", required=True, help="the per-clip CSV to write")
    p.add_argument("--predictions", default=None, help="directory for the task's predictions")
    _add_run_arguments(p)


def _add_figures(sub) -> None:
    p = _verb(sub, "figures", cmd_figures, "draw a task's figures (curves, panels, demo videos)")
    p.add_argument("--task", required=True, help="the task's registered name (e.g. binaural)")
    p.add_argument("--cfg", type=_json, required=True, help="the task's params section (JSON)")
    p.add_argument("--test", required=True, help="test feature cache directory")
    p.add_argument("--models", required=True, help="models/<task> directory")
    p.add_argument("--metrics", required=True, help="reports/metrics directory")
    p.add_argument("--predictions", required=True, help="reports/predictions/<task> directory")
    p.add_argument("--out", required=True, help="reports/figures/<task> directory")


def _add_demo(sub) -> None:
    p = _verb(sub, "demo", cmd_demo, "run a task's inference verb on held-out test clips for the report")
    p.add_argument("--task", required=True, help="the task's registered name (e.g. binaural)")
    p.add_argument(
        "--cfg", type=_json, required=True, help="the task's params section (JSON; its `demo` and `eval`)"
    )
    p.add_argument("--models", default="models", help="the trained models (models/<task>/<demo.variant>)")
    p.add_argument("--manifest", required=True, help="the dataset's manifest CSV")
    p.add_argument("--raw", required=True, help="the raw dataset directory")
    p.add_argument("--split-file", required=True, help="the test split's clip list")
    p.add_argument("--out", required=True, help="reports/demos/<task> (media files and demo.json)")
    _add_run_arguments(p)


def _add_report(sub) -> None:
    p = _verb(sub, "report", cmd_report, "assemble reports/report.md (+ .html) and the tables")
    p.add_argument("--cfg", type=_json, required=True, help="the resolved configuration (JSON)")
    p.add_argument("--models", default="models", help="trained models (their config.yaml files)")
    p.add_argument("--metrics", default="reports/metrics", help="metric files")
    p.add_argument("--figures", default="reports/figures", help="figure directories")
    p.add_argument("--tables", default="reports/tables", help="where the tables are written")
    p.add_argument("--issues", default="reports/data_issues", help="verify's issues, one CSV per dataset")
    p.add_argument("--manifests", default="data/manifests", help="verify's manifests, one CSV per dataset")
    p.add_argument("--demos", default="reports/demos", help="the demo stage's outputs, one folder per task")
    p.add_argument("--out", required=True, help="the markdown report (the HTML goes next to it)")


def _add_unlock_stale(sub) -> None:
    p = _verb(
        sub,
        "unlock-stale",
        cmd_unlock_stale,
        "remove the lock a killed Snakemake left, when no Snakemake runs in the directory",
    )
    p.add_argument("--dir", default=".", help="the workflow's directory (default: here)")


def _add_stale(sub) -> None:
    p = _verb(sub, "stale", cmd_stale, "list (or remove) outputs the current configuration does not make")
    p.add_argument(
        "--config",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="the configuration, as given to snakemake (e.g. profile=smoke 'tasks=[binaural]')",
    )
    p.add_argument("--remove", action="store_true", help="delete them")
    p.add_argument("--dir", default=".", help="the workflow's directory (default: here)")


VERBS = (
    _add_synthesize,
    _add_verify,
    _add_split,
    _add_download,
    _add_cache,
    _add_train,
    _add_evaluate,
    _add_figures,
    _add_demo,
    _add_report,
    _add_unlock_stale,
    _add_stale,
)


def _add_model_arguments(p: argparse.ArgumentParser, task: str) -> None:
    """The arguments every inference verb shares: which trained model, where, on what device."""
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        default=None,
        help=f"a trained model directory (models/{task}/<variant>, with best.pt and config.yaml); "
        "default: the best variant of the last run",
    )
    g.add_argument("--variant", default=None, help=f"or just the variant name under --models/{task}/")
    g.add_argument("--models", default="models", help="the trained models of a run (default: models)")
    g.add_argument(
        "--metrics", default="reports/metrics", help="the run's metric files (to pick the best variant)"
    )
    g.add_argument(
        "--params", default="params.yaml", help="the params file the model was trained with (eval settings)"
    )
    g.add_argument("--profile", default=None, help="its profile (default: the one the model matches)")
    g.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    g.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_inference_verbs(sub) -> None:
    """One sub-command per task verb, declared in the task package's light ``verb.py``."""
    from avrepro.tasks import task_verbs

    for verb, (task, module) in task_verbs().items():
        p = _verb(sub, verb, cmd_infer, module.HELP)
        p.set_defaults(task=task)
        module.add_arguments(p)
        _add_model_arguments(p, task)


def build_parser() -> argparse.ArgumentParser:
    """The ``avrepro`` parser: the inference verbs, then one sub-command per pipeline step."""
    parser = argparse.ArgumentParser(prog="avrepro", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_inference_verbs(sub)
    for add in VERBS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv  # `train` re-runs itself under torchrun with the same arguments
    watch_snakemake()  # a job stops when the Snakemake that started it is killed
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, KeyError, NoSpaceError) as exc:
        # Errors raised on purpose name the file/key and the reason: no stack trace needed.
        print(f"avrepro {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"avrepro {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
