"""How the data stage's cost grows with the dataset: tiny generated clips in a `local` folder
(FAIR-Play layout), converted, verified, split and cached by the DAG's own rules, then the
bookkeeping over the result (`snakemake -n`, `dvc commit` of the data stages, `dvc status`).

    python benchmarks/data_scale.py --out /tmp/scale --sizes 1000 10000 [--cores 2]

Each clip is 1 s: 32x16 frames at 10 fps and stereo 16 kHz sound, so the times are what the
pipeline spends per clip and per file, not decoding big media. For each size the script writes
the folder, a copy of the project whose params point the binaural task at it
(``binaural.dataset: local``, ``tasks: [binaural]``), its ``dvc.yaml`` (``python -m
avrepro.dvcyaml``) and a DVC repository (``dvc init --no-scm``), then times each step.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, save  # noqa: E402
from avrepro.media import write_mp4, write_wav  # noqa: E402

RATE, FPS, SIZE = 16000, 10, (32, 16)
DATA_RULES = ("download", "verify", "split", "cache_features")


def make_clips(folder: Path, count: int) -> None:
    """``count`` 1-s clips: a moving bar and a tone, stereo, a different seed each."""
    for k in range(count):
        rng = np.random.default_rng(k)
        frames = np.full((FPS, SIZE[1], SIZE[0], 3), 30, np.uint8)
        x = int(rng.integers(0, SIZE[0] - 4))
        frames[:, :, x : x + 4] = 200
        t = np.arange(RATE) / RATE
        audio = 0.1 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) * np.array([[1.0], [0.6]])
        write_mp4(folder / "videos" / f"clip{k:05d}.mp4", frames, FPS)
        write_wav(folder / "binaural_audios" / f"clip{k:05d}.wav", audio.astype(np.float32), RATE)


def project(work: Path, folder: Path) -> None:
    """A copy of the workflow whose params run the binaural task on ``folder``, with its dvc.yaml."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for item in ("Snakefile", "workflow", "src", ".dvcignore"):
        (shutil.copytree if (ROOT / item).is_dir() else shutil.copy)(ROOT / item, work / item)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["common"]["tasks"] = ["binaural"]
    params["common"]["binaural"]["dataset"] = "local"
    params["common"]["datasets"]["local"]["path"] = str(folder)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run([sys.executable, "-m", "avrepro.dvcyaml"], work)
    run([bindir() / "dvc", "init", "--no-scm", "-q"], work)


def bindir() -> Path:
    return Path(sys.executable).parent


def run(cmd: list, cwd: Path) -> float:
    """Run ``cmd`` in ``cwd`` (the venv's tools first on PATH); its wall time in seconds."""
    env = {**os.environ, "PATH": f"{bindir()}{os.pathsep}{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(map(str, cmd))} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return time.perf_counter() - start


def measure(out: Path, count: int, cores: int) -> dict:
    """Every step's wall time for ``count`` clips, and the sizes on disk."""
    folder, work = out / f"clips{count}", out / f"project{count}"
    times = {}
    if not (folder / "videos").is_dir():
        start = time.perf_counter()
        make_clips(folder, count)
        times["write clips (setup)"] = time.perf_counter() - start
    project(work, folder)
    snake = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        str(cores),
        "--workflow-profile",
        "workflow/profiles/default",
    ]
    for rule in DATA_RULES:  # each step alone: the rules before it are done
        times[f"snakemake --until {rule}"] = run([*snake, "--until", rule], work)
    times["snakemake -n (the rest planned)"] = run([*snake, "-n"], work)
    stages = [
        s
        for s in yaml.safe_load((work / "dvc.yaml").read_text())["stages"]
        if s.split("_")[0] in ("download", "verify", "split") or s.startswith("cache_features")
    ]
    times["dvc commit (data stages: hash + cache)"] = run(
        [bindir() / "dvc", "commit", "-f", "-q", *stages], work
    )
    times["dvc status (first)"] = run([bindir() / "dvc", "status"], work)
    times["dvc status (again)"] = run([bindir() / "dvc", "status"], work)
    sizes = {p: du(work / "data" / p) for p in ("raw", "cache", "manifests", "splits")}
    sizes["dvc cache"] = du(work / ".dvc" / "cache")
    return {"clips": count, "seconds": times, "bytes": sizes}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="a scratch folder (clips and project copies)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args(argv)
    results = [measure(args.out.resolve(), n, args.cores) for n in args.sizes]
    steps = list(results[-1]["seconds"])
    width = max(len(step) for step in steps) + 2
    lines = ["step".ljust(width) + "".join(f"{r['clips']:>10,} clips" for r in results)]
    for step in steps:
        lines.append(
            step.ljust(width) + "".join(f"{r['seconds'].get(step, float('nan')):>14.1f} s" for r in results)
        )
    for what in results[-1]["bytes"]:
        lines.append(
            f"{what} on disk".ljust(width) + "".join(f"{r['bytes'][what] / 1e6:>13.1f} MB" for r in results)
        )
    first, last = results[0], results[-1]
    if last["clips"] > first["clips"]:  # the cost of 1,000 more clips, start-up costs left out
        span = last["clips"] - first["clips"]
        per_1000 = [f"{s} {1000 * (last['seconds'][s] - first['seconds'][s]) / span:.1f} s" for s in steps]
        lines.append(
            f"per 1,000 more clips ({first['clips']:,} -> {last['clips']:,}): " + ", ".join(per_1000)
        )
    save(
        "data_scale",
        f"Data stage and bookkeeping at {', '.join(str(n) for n in args.sizes)} clips",
        lines,
        {"runs": results},
    )
    return {"runs": results}


if __name__ == "__main__":
    main()
