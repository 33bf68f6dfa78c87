"""Baselines of the separation task: masks that need no trained model.

- ``mixture``: every estimate is the mixture (mask 1); its SDR is ``sdr_mixture``.
- ``nmf``: supervised NMF (the paper's NMF baseline family, Virtanen 2007): per class, ``r``
  spectral bases learned by KL-divergence NMF on the magnitude spectrograms of the TRAIN split's
  clips of that class; a test mixture's magnitude is decomposed on the bases of its N (known)
  classes with the bases fixed, and each source gets the Wiener-style mask
  ``V_n / sum_m V_m`` (``V_n`` = its bases times their activations). It is told the classes,
  which the model has to infer from the frames.
- ``ibm``: ideal binary mask, 1 where a source dominates the others (|S_n| >= |S_m| for all
  m, ties to the first); ``irm``: ideal ratio mask ``|S_n| / sum_m |S_m|``. Both use the true
  sources: upper bounds of masking the mixture with its own phase.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from avrepro.data.cache import FeatureCache
from avrepro.tasks.separation.data import usable_clips
from avrepro.tasks.separation.spectral import spec

BASELINES = ("mixture", "nmf", "ibm", "irm")


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
            nmf = NMF(n_components=ncfg["components"], beta_loss="kullback-leibler", solver="mu",
                      init="nndsvda", max_iter=ncfg["iterations"], random_state=seed)
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
                mix_mag.T.astype(np.float64) + 1e-9, H=h, n_components=len(h), update_H=False,
                beta_loss="kullback-leibler", solver="mu", max_iter=self.ncfg["iterations"],
                random_state=self.seed)
        parts = np.stack([act[:, n * r:(n + 1) * r] @ h[n * r:(n + 1) * r] for n in range(len(classes))])
        return (parts / np.maximum(parts.sum(axis=0, keepdims=True), 1e-12)).transpose(0, 2, 1)
