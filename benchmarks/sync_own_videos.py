"""The sync task on a folder of videos with sound, the way a user runs it on their own: does the
default profile learn there too?

    python benchmarks/sync_own_videos.py --out /tmp/own [--videos 60 --seconds 12]

Writes ``--videos`` videos (320x240, 25 fps, stereo 44.1 kHz AAC; names and sub-folders as a
camera leaves them) into ``<out>/videos``. Each shows two squares that light up now and then, and
its sound has a click at each flash of one of them; the other flashes at its own random times, so
that motion alone does not tell which track is in sync. Then it runs the whole sync DAG of the
default profile on them in a copy of this project (``<out>/project``;
``--config 'tasks=[sync]' 'sync={dataset: local_videos}'``) and prints the test accuracies.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from avrepro.media import write_mp4

ROOT = Path(__file__).resolve().parents[1]
RATE, FPS, SIZE = 44100, 25, (320, 240)


def video_with_sound(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames of two squares (one flashes with the clicks of the sound) and the stereo sound."""
    rng = np.random.default_rng(seed)
    width, height = SIZE
    n_frames, n_samples = int(seconds * FPS), int(seconds * RATE)
    frames = np.full((n_frames, height, width, 3), 40, np.uint8)
    frames += rng.integers(0, 12, size=(1, height, width, 3), dtype=np.uint8)  # a fixed texture
    audio = 0.02 * rng.standard_normal((2, n_samples))
    n = np.arange(3000)
    burst = np.sin(2 * np.pi * rng.uniform(300, 900) * n / RATE) * np.exp(-n / 600)  # a click
    spots = [(rng.integers(0, width - 48), rng.integers(0, height - 48)) for _ in range(2)]
    for k, (x, y) in enumerate(spots):
        for t in np.sort(rng.uniform(0, seconds - 0.3, size=int(2 * seconds))):
            f = int(t * FPS)
            frames[f : f + 3, y : y + 48, x : x + 48] = (230, 200, 90) if k == 0 else (90, 200, 230)
            if k == 0:  # only the first square's flashes are heard
                s = int(t * RATE)
                audio[:, s : s + 3000] += 0.5 * burst[: n_samples - s]
    return frames, audio.astype(np.float32)


def make_videos(folder: Path, count: int, seconds: float) -> None:
    for k in range(count):
        frames, audio = video_with_sound(seconds, seed=k)
        sub = folder / ("trip" if k % 3 == 0 else "home")
        write_mp4(sub / f"VID_{k:04d}.mp4", frames, FPS, audio=audio, audio_rate=RATE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--videos", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    videos, work = args.out / "videos", args.out / "project"
    if not videos.is_dir():  # a rerun keeps the videos it wrote
        start = time.monotonic()
        make_videos(videos, args.videos, args.seconds)
        print(f"{args.videos} videos written in {time.monotonic() - start:.0f} s")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for item in ("Snakefile", "params.yaml", "workflow"):
        copy = shutil.copytree if (ROOT / item).is_dir() else shutil.copy
        copy(ROOT / item, work / item)
    start = time.monotonic()
    folder = f"datasets={{local_videos: {{path: '{videos}'}}}}"
    config = ["tasks=[sync]", "sync={dataset: local_videos}", folder]
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--workflow-profile"]
    subprocess.run([*cmd, "workflow/profiles/default", "--config", *config], cwd=work, check=True)
    print(f"sync DAG (default profile) on the videos: {time.monotonic() - start:.0f} s")
    for name in ("chance", "fused", "audio_only", "video_only"):
        path = work / f"reports/metrics/sync_{name}.json"
        if path.is_file():
            m = json.loads(path.read_text())
            print(f"{name:>10}: accuracy {100 * m['accuracy']:.1f} % +- {100 * m['accuracy_sem']:.1f} "
                  f"over {m['n_clips']} test clips")  # fmt: skip


if __name__ == "__main__":
    main()
