"""Run the synthetic generator as the DAG's ``synthesize`` rule does: in a fresh process."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from avrepro.data.synthetic import generate


def generate_fresh(cfg: dict, out: Path, seed: int, workers: int = 1) -> None:
    """``generate(cfg, out, seed)`` in a new (spawned) process. Inside the pytest process, after
    other tests, the generator has rendered some frames differently (about 1 run in 10: mp4 bytes
    differ, wavs and meta equal; suspected: NumPy's SIMD and scalar exp/power loops differ by an
    ulp with the arrays' alignment, flipping a pixel's rounding), so byte comparisons use this."""
    proc = mp.get_context("spawn").Process(
        target=generate, args=(cfg, out, seed), kwargs={"progress": False, "workers": workers}
    )
    proc.start()
    proc.join()
    assert proc.exitcode == 0, f"generate failed in a fresh process (exit code {proc.exitcode})"
