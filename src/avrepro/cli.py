"""The ``avrepro`` command: one sub-command per pipeline step (each Snakemake rule calls one).

Rules pass the exact configuration section they depend on as JSON (``--cfg``), so Snakemake's
params tracking reruns exactly what a params change touches.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--cfg is not valid JSON: {exc}") from None


def cmd_synthesize(args) -> None:
    from avrepro.data.synthetic import generate

    generate(args.cfg, Path(args.out), seed=args.seed, workers=args.workers)


def cmd_verify(args) -> None:
    from avrepro.data.verify import verify_dataset

    verify_dataset(Path(args.raw), args.dataset, args.cfg, Path(args.manifest), Path(args.issues))


def cmd_split(args) -> None:
    from avrepro.data.split import official_split, split_manifest

    if args.cfg.get("scheme", "hash") == "official":
        if not args.raw:
            raise ValueError("split scheme 'official' needs --raw (the raw dataset with splits/)")
        official_split(Path(args.manifest), Path(args.raw), str(args.cfg["official"]), Path(args.out))
    else:
        split_manifest(Path(args.manifest), args.cfg, Path(args.out))


def cmd_download(args) -> None:
    from avrepro.data.sources import fetch_dataset

    cfg = args.cfg
    if cfg is None:
        from avrepro.config import load_params

        resolved = load_params(args.params, {"profile": args.profile} if args.profile else None)
        if args.dataset not in resolved["datasets"]:
            raise ValueError(f"{args.params}: no datasets.{args.dataset} section")
        cfg = resolved["datasets"][args.dataset]
    summary = fetch_dataset(args.dataset, cfg, Path(args.out),
                            Path(args.downloads) if args.downloads else None,
                            workers=args.workers, progress=not args.no_progress)
    print(json.dumps(summary, indent=2, sort_keys=True))


def cmd_cache(args) -> None:
    from avrepro.data.cache import build_cache

    build_cache(Path(args.manifest), Path(args.raw), Path(args.split_file), Path(args.out), args.cfg)


def _open_cache(path: str, cfg: dict):
    from avrepro.data.cache import FeatureCache

    return FeatureCache(Path(path), expect=cfg.get("features"))


def cmd_train(args) -> None:
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

    task = get_task(args.task)
    if args.threads:
        args.cfg["train"]["threads"] = args.threads
    if args.init:
        args.cfg["train"]["init"] = args.init
    final = train(task, args.cfg, args.variant, _open_cache(args.train, args.cfg),
                  _open_cache(args.val, args.cfg), Path(args.out), seed=args.seed, device=args.device)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(final, indent=2, sort_keys=True))


def cmd_evaluate(args) -> None:
    from avrepro.engine.evaluate import evaluate

    evaluate(args.task, args.cfg, args.name, _open_cache(args.test, args.cfg),
             checkpoint=Path(args.checkpoint) if args.checkpoint else None,
             metrics_out=Path(args.metrics), clips_out=Path(args.clips),
             predictions_dir=Path(args.predictions) if args.predictions else None,
             seed=args.seed, device=args.device, threads=args.threads, variant=args.variant,
             train_cache=_open_cache(args.train, args.cfg) if args.train else None)


def cmd_figures(args) -> None:
    from avrepro.tasks import get_task

    written = get_task(args.task).make_figures(args.cfg, _open_cache(args.test, args.cfg),
                                               Path(args.models), Path(args.metrics),
                                               Path(args.predictions), Path(args.out))
    print(f"figures {args.task}: {len(written)} files -> {args.out}")


def cmd_report(args) -> None:
    import yaml

    from avrepro.report.build import build_report

    extra = {}
    for cfg_file in sorted(Path(args.models).glob("*/*/config.yaml")):
        run = yaml.safe_load(cfg_file.read_text())
        facts = f"{run['epochs']} epochs, {run['steps']} steps on {run['device']}"
        if run.get("visual_weights") not in (None, "n/a"):
            facts += f", visual weights: {run['visual_weights']}"
        extra[f"{run['task']}/{run['variant']}"] = facts
    build_report(args.cfg, Path(args.out), Path(args.metrics), Path(args.figures), Path(args.tables),
                 extra=extra, issues_dir=Path(args.issues), manifest_dir=Path(args.manifests))
    print(f"report -> {args.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avrepro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(func=func)
        return p

    p = add("synthesize", cmd_synthesize, "generate the embedded synthetic dataset")
    p.add_argument("--cfg", type=_json, required=True, help="the `synthetic` params section (JSON)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes (the output does not depend on it)")
    p.add_argument("--out", required=True)

    p = add("verify", cmd_verify, "check every clip; write the manifest and the data-issues report")
    p.add_argument("--raw", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--cfg", type=_json, required=True, help="the `verify` params section (JSON)")
    p.add_argument("--manifest", required=True)
    p.add_argument("--issues", required=True)

    p = add("split", cmd_split, "grouped, hash-based, stable train/val/test split")
    p.add_argument("--manifest", required=True)
    p.add_argument("--cfg", type=_json, required=True, help="the `split` params section (JSON)")
    p.add_argument("--out", required=True)
    p.add_argument("--raw", default=None, help="raw dataset (for scheme 'official': its splits/)")

    p = add("download", cmd_download, "fetch a real dataset and convert it into the raw layout")
    p.add_argument("--dataset", required=True, help="fairplay | local | music | yt360 | kinetics")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--cfg", type=_json, help="the `datasets.<name>` params section (JSON)")
    src.add_argument("--params", help="or a params file: its datasets.<name> section is used")
    p.add_argument("--profile", default=None, help="with --params: the profile (default: the file's)")
    p.add_argument("--out", required=True, help="data/raw/<dataset> (replaced atomically)")
    p.add_argument("--downloads", default=None,
                   help="where archives and partial downloads are kept (default data/downloads/<dataset>)")
    p.add_argument("--workers", type=int, default=1, help="conversion processes")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = add("cache", cmd_cache, "decode one split into memory-mappable feature shards")
    p.add_argument("--manifest", required=True)
    p.add_argument("--raw", required=True)
    p.add_argument("--split-file", required=True)
    p.add_argument("--cfg", type=_json, required=True, help="the task's `features` section (JSON)")
    p.add_argument("--out", required=True)

    p = add("train", cmd_train, "train one variant of a task")
    p.add_argument("--task", required=True)
    p.add_argument("--variant", required=True)
    p.add_argument("--cfg", type=_json, required=True, help="the task's params section (JSON)")
    p.add_argument("--train", required=True, help="training feature cache directory")
    p.add_argument("--val", required=True, help="validation feature cache directory")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (the rule's threads)")
    p.add_argument("--init", default=None,
                   help="best.pt of another variant to start from (a curriculum's first stage)")

    p = add("evaluate", cmd_evaluate, "evaluate a trained variant or a baseline on the test split")
    p.add_argument("--task", required=True)
    p.add_argument("--name", required=True, help="variant or baseline name")
    p.add_argument("--cfg", type=_json, required=True)
    p.add_argument("--test", required=True, help="test feature cache directory")
    p.add_argument("--checkpoint", default=None, help="best.pt of a trained variant (none: baseline)")
    p.add_argument("--variant", default=None,
                   help="the variant the checkpoint belongs to when --name is a control of it")
    p.add_argument("--train", default=None, help="training feature cache (for probes)")
    p.add_argument("--metrics", required=True)
    p.add_argument("--clips", required=True)
    p.add_argument("--predictions", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch threads (the rule's threads)")

    p = add("figures", cmd_figures, "draw a task's figures (curves, panels, demo videos)")
    p.add_argument("--task", required=True)
    p.add_argument("--cfg", type=_json, required=True)
    p.add_argument("--test", required=True, help="test feature cache directory")
    p.add_argument("--models", required=True, help="models/<task> directory")
    p.add_argument("--metrics", required=True, help="reports/metrics directory")
    p.add_argument("--predictions", required=True, help="reports/predictions/<task> directory")
    p.add_argument("--out", required=True)

    p = add("report", cmd_report, "assemble reports/report.md (+ .html) and the tables")
    p.add_argument("--cfg", type=_json, required=True, help="the resolved configuration (JSON)")
    p.add_argument("--models", default="models")
    p.add_argument("--metrics", default="reports/metrics")
    p.add_argument("--figures", default="reports/figures")
    p.add_argument("--tables", default="reports/tables")
    p.add_argument("--issues", default="reports/data_issues", help="verify's issues, one CSV per dataset")
    p.add_argument("--manifests", default="data/manifests")
    p.add_argument("--out", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv  # `train` re-runs itself under torchrun with the same arguments
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        # Errors raised on purpose name the file/key and the reason: no stack trace needed.
        print(f"avrepro {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
