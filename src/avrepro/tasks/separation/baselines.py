"""Baselines of the separation task: masks that need no trained model.

- ``mixture``: every estimate is the mixture (mask 1); its SDR is ``sdr_mixture``.
- ``nmf``: blind NMF as the paper's NMF baseline (NMF-MFCC, Spiertz & Gnann 2009): KL-NMF of the
  mixture's own magnitude into ``r`` components, the components grouped into N sources by
  k-means on the MFCCs of their spectral bases, each source the Wiener-style mask of its group.
  A blind method cannot know which group belongs to which video, so its groups are matched to
  the true sources by the best permutation (the magnitude correlation of each assignment),
  which favours the baseline.
- ``nmf_supervised``: supervised NMF (Virtanen 2007; stronger than the paper's baseline): per class, ``r``
  spectral bases learned by KL-divergence NMF on the magnitude spectrograms of the TRAIN split's
  clips of that class; a test mixture's magnitude is decomposed on the bases of its N (known)
  classes with the bases fixed, and each source gets the Wiener-style mask
  ``V_n / sum_m V_m`` (``V_n`` = its bases times their activations). It is told the classes,
  which the model has to infer from the frames.
- ``ibm``: ideal binary mask, 1 where a source dominates the others (|S_n| >= |S_m| for all
  m, ties to the first); ``irm``: ideal ratio mask ``|S_n| / sum_m |S_m|``. Both use the true
  sources: upper bounds of masking the mixture with its own phase.

Each baseline is a *masker* (see :mod:`avrepro.tasks.separation.evaluate`) run through the same
evaluation loop as a trained model; :func:`evaluate_baseline` picks it by name.
"""

from __future__ import annotations

import itertools
import time
import warnings

import numpy as np
import torch

from avrepro.data.cache import FeatureCache
from avrepro.metrics.separation import one_blas_thread
from avrepro.tasks.base import Evaluation
from avrepro.tasks.separation.data import clip_classes, usable_clips
from avrepro.tasks.separation.evaluate import Chunk, Masker, run_evaluation
from avrepro.tasks.separation.names import BASELINES
from avrepro.tasks.separation.spectral import spec


def ideal_masks(sources: torch.Tensor, kind: str, acfg: dict) -> torch.Tensor:
    """Ideal masks from the true sources ``(B, N, L)`` -> ``(B, N, F, T)`` on the linear axis."""
    mags = spec(sources.float(), acfg).abs()
    if kind == "ibm":
        winner = mags.argmax(dim=1, keepdim=True)  # first maximum on ties
        return torch.zeros_like(mags).scatter_(1, winner, 1.0)
    if kind == "irm":
        return mags / mags.sum(dim=1, keepdim=True).clamp_min(1e-10)
    raise ValueError(f"unknown ideal mask '{kind}' (ibm | irm)")


class NMFBases:
    """Per-class NMF bases learned on a training cache.

    Args:
        train: the TRAIN split's feature cache (solo clips with a class).
        acfg: the task's ``audio`` section (STFT of the bases = the model's STFT).
        ncfg: ``eval.nmf``: ``components`` (bases per class), ``iterations`` and
            ``max_frames`` (STFT frames per class, a seeded random subset beyond it).
        seed: NMF initialisation and frame subset.
    """

    def __init__(self, train: FeatureCache, acfg: dict, ncfg: dict, seed: int = 0):
        from sklearn.decomposition import NMF

        self.acfg, self.ncfg, self.seed = acfg, ncfg, seed
        _, by_class = usable_clips(train, 1)
        rng = np.random.default_rng([seed, 7])
        self.bases: dict[str, np.ndarray] = {}
        for name, ids in by_class.items():
            mags = [spec(torch.from_numpy(train.audio_float(i)[0]), acfg).abs().numpy().T for i in ids]
            x = np.concatenate(mags).astype(np.float64)  # (frames, F)
            x = x[x.sum(axis=1) > 0]
            if len(x) > ncfg["max_frames"]:
                x = x[np.sort(rng.choice(len(x), ncfg["max_frames"], replace=False))]
            nmf = NMF(
                n_components=ncfg["components"],
                beta_loss="kullback-leibler",
                solver="mu",
                init="nndsvda",
                max_iter=ncfg["iterations"],
                random_state=seed,
            )
            with warnings.catch_warnings():  # max_iter reached: a fixed budget, by design
                warnings.simplefilter("ignore")
                nmf.fit(x + 1e-9)
            self.bases[name] = nmf.components_  # (r, F)

    def masks(self, mix_mag: np.ndarray, classes: list[str]) -> np.ndarray:
        """Wiener-style masks ``(N, F, T)`` of a mixture magnitude ``(F, T)`` on the bases of
        ``classes``."""
        from sklearn.decomposition import non_negative_factorization

        missing = [c for c in classes if c not in self.bases]
        if missing:
            raise ValueError(f"NMF: no training clips of class '{missing[0]}'")
        h = np.concatenate([self.bases[c] for c in classes])  # (N r, F)
        r = self.ncfg["components"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            act, _, _ = non_negative_factorization(
                mix_mag.T.astype(np.float64) + 1e-9,
                H=h,
                n_components=len(h),
                update_H=False,
                beta_loss="kullback-leibler",
                solver="mu",
                max_iter=self.ncfg["iterations"],
                random_state=self.seed,
            )
        parts = np.stack([act[:, n * r : (n + 1) * r] @ h[n * r : (n + 1) * r] for n in range(len(classes))])
        return (parts / np.maximum(parts.sum(axis=0, keepdims=True), 1e-12)).transpose(0, 2, 1)


def _mfcc_of_bases(bases: np.ndarray, sample_rate: int, n_mels: int = 40, n_mfcc: int = 13) -> np.ndarray:
    """MFCCs ``(r, n_mfcc - 1)`` of spectral bases ``(r, F)`` (mel power, log, DCT-II; c0, the
    level, dropped: the grouping should follow timbre, not loudness)."""
    import torchaudio
    from scipy.fft import dct

    fb = torchaudio.functional.melscale_fbanks(
        bases.shape[1], 0.0, sample_rate / 2, n_mels, sample_rate, norm="slaney", mel_scale="slaney"
    ).numpy()
    mel = np.log((bases**2) @ fb + 1e-10)
    return dct(mel, type=2, norm="ortho", axis=1)[:, 1:n_mfcc]


def blind_nmf_masks(
    mix_mag: np.ndarray, true_mags: np.ndarray, sample_rate: int, ncfg: dict, seed: int = 0
) -> np.ndarray:
    """NMF-MFCC masks ``(N, F, T)`` of a mixture magnitude ``(F, T)``, their order matched to
    the true sources' magnitudes ``(N, F, T)`` (used for the assignment only).

    Args:
        ncfg: ``eval.nmf``: ``components`` r of the mixture, ``iterations``.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import NMF

    n = len(true_mags)
    r = max(n, int(ncfg["components"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nmf = NMF(
            n_components=r,
            beta_loss="kullback-leibler",
            solver="mu",
            init="nndsvda",
            max_iter=ncfg["iterations"],
            random_state=seed,
        )
        act = nmf.fit_transform(mix_mag.T.astype(np.float64) + 1e-9)  # (T, r)
    bases = nmf.components_  # (r, F)
    groups = KMeans(n_clusters=n, n_init=10, random_state=seed).fit_predict(
        _mfcc_of_bases(bases, sample_rate)
    )
    parts = np.stack([(act[:, groups == g] @ bases[groups == g]).T for g in range(n)])  # (N, F, T)
    masks = parts / np.maximum(parts.sum(axis=0, keepdims=True), 1e-12)
    est = masks * mix_mag[None]

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))

    best = max(
        itertools.permutations(range(n)), key=lambda p: sum(corr(est[p[k]], true_mags[k]) for k in range(n))
    )
    return masks[list(best)]


def mixture_masker(cfg: dict, test: FeatureCache, train: FeatureCache | None) -> Masker:
    """``mixture``: mask 1 for every source (each estimate is the mixture)."""
    n_mix = cfg["mix"]["n"]
    return lambda chunk: (torch.ones(len(chunk.combos), n_mix, *chunk.mix_spec.shape[1:]), None)


def blind_nmf_masker(cfg: dict, test: FeatureCache, train: FeatureCache | None) -> Masker:
    """``nmf``: :func:`blind_nmf_masks` of each mixture (groups matched to the true sources)."""
    acfg, ecfg = cfg["audio"], cfg["eval"]

    def masks(chunk: Chunk) -> tuple[torch.Tensor, None]:
        true_mags = spec(chunk.sources, acfg).abs().numpy()
        with one_blas_thread():
            return torch.from_numpy(
                np.stack(
                    [
                        blind_nmf_masks(
                            chunk.mix_spec[j].abs().numpy(),
                            true_mags[j],
                            test.sample_rate,
                            ecfg["nmf"],
                            seed=ecfg["seed"],
                        )
                        for j in range(len(chunk.combos))
                    ]
                ).astype(np.float32)
            ), None

    return masks


def supervised_nmf_masker(cfg: dict, test: FeatureCache, train: FeatureCache | None) -> Masker:
    """``nmf_supervised``: per-class bases learned on ``train`` (:class:`NMFBases`), each
    mixture decomposed on the bases of its clips' classes."""
    if train is None:
        raise ValueError(
            "the nmf_supervised baseline learns its bases on the train split: set "
            "separation.eval.needs_train: true"
        )
    ecfg, classes = cfg["eval"], clip_classes(test)
    with one_blas_thread():
        nmf = NMFBases(train, cfg["audio"], ecfg["nmf"], seed=ecfg["seed"])

    def masks(chunk: Chunk) -> tuple[torch.Tensor, None]:
        with one_blas_thread():
            return torch.from_numpy(
                np.stack(
                    [
                        nmf.masks(chunk.mix_spec[j].abs().numpy(), [classes[i] for i in combo])
                        for j, combo in enumerate(chunk.combos)
                    ]
                ).astype(np.float32)
            ), None

    return masks


def ideal_masker(kind: str):
    """``ibm`` / ``irm``: :func:`ideal_masks` of the true sources."""

    def make(cfg: dict, test: FeatureCache, train: FeatureCache | None) -> Masker:
        return lambda chunk: (ideal_masks(chunk.sources, kind, cfg["audio"]), None)

    return make


MASKERS = {
    "mixture": mixture_masker,
    "nmf": blind_nmf_masker,
    "nmf_supervised": supervised_nmf_masker,
    "ibm": ideal_masker("ibm"),
    "irm": ideal_masker("irm"),
}
"""Baseline name -> ``(cfg, test, train) -> masker``; the names are :data:`BASELINES`."""


def evaluate_baseline(
    name: str, cfg: dict, test: FeatureCache, *, train: FeatureCache | None = None, progress: bool = True
) -> Evaluation:
    """The baseline ``name`` on the test mixtures (``train``: the supervised NMF's bases)."""
    if name not in BASELINES:
        raise ValueError(f"unknown separation baseline '{name}' (known: {', '.join(BASELINES)})")
    started = time.perf_counter()
    masker = MASKERS[name](cfg, test, train)
    return run_evaluation(cfg, test, name, masker, localize=False, progress=progress, started=started)
