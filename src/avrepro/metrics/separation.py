"""Separation metrics as the official Sound of Pixels evaluation: mir_eval BSS Eval v3.

For each test mixture, ``bss_eval_sources(references, estimates, compute_permutation=False)``
on the scaled sources (each source / N, as mixed) gives per-source SDR, SIR and SAR, averaged
over the mixture's sources; the mixture itself, as the estimate of every source, gives
``sdr_mixture``. A mixture whose references or estimates include a silent source (sum |x| below
1e-5) is skipped, as the official code does. BSS Eval takes ~0.05-0.3 s per call, so
:func:`score_mixtures` spreads mixtures over worker processes.
"""

from __future__ import annotations

import multiprocessing as mp
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

SILENT = 1e-5


def bss_eval(references: np.ndarray, estimates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-source SDR, SIR, SAR (dB) of ``estimates`` against ``references`` (``(n, T)``, in order:
    no permutation search), by mir_eval's BSS Eval."""
    from mir_eval.separation import bss_eval_sources

    with warnings.catch_warnings():  # mir_eval 0.8 marks bss_eval_sources deprecated (kept in 0.8)
        warnings.simplefilter("ignore", FutureWarning)
        sdr, sir, sar, _ = bss_eval_sources(
            np.asarray(references, dtype=np.float64),
            np.asarray(estimates, dtype=np.float64),
            compute_permutation=False,
        )
    return sdr, sir, sar


def is_silent(x: np.ndarray) -> bool:
    return float(np.sum(np.abs(x))) <= SILENT


def mixture_scores(references: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict | None:
    """SDR/SIR/SAR of ``estimates`` and the SDR of ``mixture``, means over the sources.

    Shapes: references, estimates ``(N, L)``; mixture ``(L,)``. ``None`` when a reference or an
    estimate is silent (skipped, as the official evaluation).
    """
    references, estimates = np.asarray(references), np.asarray(estimates)
    if references.shape != estimates.shape or references.ndim != 2:
        raise ValueError(
            f"references {references.shape} and estimates {estimates.shape} must be (N, L) of one shape"
        )
    if any(is_silent(r) for r in references) or any(is_silent(e) for e in estimates):
        return None
    sdr, sir, sar = bss_eval(references, estimates)
    sdr_mix, _, _ = bss_eval(references, np.repeat(np.asarray(mixture)[None], len(references), axis=0))
    return {
        "sdr": float(sdr.mean()),
        "sir": float(sir.mean()),
        "sar": float(sar.mean()),
        "sdr_mixture": float(sdr_mix.mean()),
    }


def _job(args):
    return mixture_scores(*args)


def one_blas_thread():
    """Context with NumPy's BLAS on one thread. BSS Eval's solves are small: on a shared
    machine a multi-threaded BLAS spends ~6x the CPU time for the same wall time."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _init_worker() -> None:
    one_blas_thread()  # for the worker's lifetime: the workers are the parallelism


def score_mixtures(
    jobs: list[tuple[np.ndarray, np.ndarray, np.ndarray]], workers: int = 1, min_parallel: int = 16
) -> list[dict | None]:
    """:func:`mixture_scores` of every ``(references, estimates, mixture)``, in order, on
    ``workers`` spawned processes; in this process when ``workers`` is 1 or there are fewer
    than ``min_parallel`` jobs (starting a process costs about as much as 10 mixtures)."""
    if workers <= 1 or len(jobs) < max(2, min_parallel):
        with one_blas_thread():
            return [_job(j) for j in jobs]
    with ProcessPoolExecutor(
        min(workers, len(jobs)), mp_context=mp.get_context("spawn"), initializer=_init_worker
    ) as pool:
        return list(pool.map(_job, jobs, chunksize=max(1, len(jobs) // (4 * workers))))
