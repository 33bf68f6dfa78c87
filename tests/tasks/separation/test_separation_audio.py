"""Separation task: log-frequency warp, mask targets and the mask-to-waveform path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avrepro.audio.warp import grid, unwarp, unwarp_coordinate, warp, warp_coordinate
from avrepro.metrics.separation import mixture_scores, score_mixtures
from avrepro.tasks.separation import spectral
from avrepro.tasks.separation.baselines import ideal_masks
from avrepro.tasks.separation.losses import mask_loss
from helpers.configs import task_config

RATE = 11025
# a longer window and STFT than the smoke profile's: 256 bins x 128 frames, warped to 128 rows
CFG = task_config(
    "separation", {"audio": {"window": 16383, "n_fft": 510, "hop": 128, "warp_bins": 128, "log_freq": True}}
)
ACFG, LOSS = CFG["audio"], CFG["loss"]


def tones(freqs, length=ACFG["window"], seed=0) -> np.ndarray:
    """A harmonic tone per fundamental, with a slow amplitude envelope: ``(len(freqs), L)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / RATE
    out = []
    for f0 in freqs:
        x = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
        out.append(0.3 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t + rng.uniform(0, 6))))
    return np.stack(out).astype(np.float32)


def test_warp_coordinates_are_inverse_and_fix_the_ends():
    y = torch.linspace(-1, 1, 101, dtype=torch.float64)
    assert torch.allclose(unwarp_coordinate(warp_coordinate(y)), y, atol=1e-12)
    assert warp_coordinate(torch.tensor([-1.0, 1.0])).tolist() == pytest.approx([-1.0, 1.0])
    # log-frequency: the lower half of the warped rows reads far less than half of the linear axis
    assert float(warp_coordinate(torch.tensor(0.0))) < -0.45
    g = grid(64, 10, warp=True)
    assert g.shape == (1, 64, 10, 2)
    assert torch.allclose(g[0, 0, :, 0], torch.linspace(-1, 1, 10))  # time axis untouched


def test_warp_unwarp_round_trip_of_a_smooth_spectrum():
    f, t = 256, 128
    freq = torch.linspace(0, 1, f)[:, None]
    x = (torch.exp(-3 * freq) * (1.5 + torch.sin(torch.linspace(0, 6, t)))[None]).expand(2, 1, f, t)
    w = warp(x, 256)
    assert w.shape == (2, 1, 256, t)
    # the end rows are read exactly; the time axis is untouched (align_corners=True)
    assert torch.allclose(w[..., 0, :], x[..., 0, :], atol=1e-6)
    assert torch.allclose(w[..., -1, :], x[..., -1, :], atol=1e-6)
    back = unwarp(w, f)
    assert back.shape == x.shape
    assert float((back - x).abs().max()) < 0.01 * float(x.abs().max())


def test_warp_rejects_non_spectrograms():
    with pytest.raises(ValueError, match="B, C, F, T"):
        warp(torch.zeros(4, 8), 16)


def test_mask_targets_and_losses():
    mags = torch.tensor([[[[3.0, 0.1]], [[0.2, 2.0]]]])  # (1, 2, 1, 2)
    mag_mix = torch.tensor([[[[3.1, 2.0]]]])
    target, weight = spectral.mask_targets(mags, mag_mix, "binary", LOSS)
    assert target.tolist() == [[[[1.0, 0.0]], [[0.0, 1.0]]]]
    assert torch.allclose(weight[0, 0], torch.log1p(mag_mix[0, 0]))
    ratio, _ = spectral.mask_targets(mags, mag_mix, "ratio", LOSS)
    assert torch.allclose(ratio, (mags / mag_mix).clamp(0, 5))
    # a confident correct prediction costs less than a confident wrong one, in both losses
    good, bad = (target * 2 - 1) * 8, (1 - target * 2) * 8
    for kind, tgt in (("binary", target), ("ratio", target)):
        assert mask_loss(good, tgt, weight, kind) < 0.05 * mask_loss(bad, tgt, weight, kind)
    with pytest.raises(ValueError, match="binary \\| ratio"):
        spectral.mask_targets(mags, mag_mix, "soft", LOSS)


def test_unit_mask_reproduces_the_mixture():
    src = torch.from_numpy(tones([220.0, 1400.0]))[None] / 2
    mix = src.sum(dim=1)
    spec = spectral.spec(mix, ACFG)
    assert spec.shape == (1, 256, 128)  # 16,383 samples, hop 128 -> 128 frames
    out = spectral.apply_masks(torch.ones(1, 2, 256, 128), spec, ACFG, ACFG["window"])
    assert float((out[0, 0] - mix[0]).abs().max()) < 1e-4


def test_ideal_masks_reproduce_the_sources():
    """Two tones an octave and more apart: the ideal binary and ratio masks, applied to the
    mixture with its phase, give each source back at more than 20 dB SDR (the mixture: ~0 dB)."""
    src = torch.from_numpy(tones([196.0, 1046.5]))[None] / 2  # (1, 2, L), each source / N
    mix = src.sum(dim=1)
    spec = spectral.spec(mix, ACFG)
    mixture = spectral.waveform(spec, ACFG, ACFG["window"])[0].numpy()
    for kind in ("ibm", "irm"):
        masks = ideal_masks(src, kind, ACFG)
        assert masks.shape == (1, 2, 256, 128)
        assert torch.allclose(masks.sum(dim=1), torch.ones(1, 256, 128), atol=1e-5)
        est = spectral.apply_masks(masks, spec, ACFG, ACFG["window"])[0].numpy()
        scores = mixture_scores(src[0].numpy(), est, mixture)
        assert scores["sdr"] > 20.0, (kind, scores)
        assert abs(scores["sdr_mixture"]) < 3.0
        assert scores["sdr"] - scores["sdr_mixture"] > 15.0


def test_warped_binary_target_through_the_evaluation_path():
    """The model's path: binary target on the warped axis -> unwarp -> threshold 0.5 -> |mix| x
    mask with the mixture's phase. Its SDR stays above 15 dB on separable tones."""
    src = torch.from_numpy(tones([196.0, 1046.5], seed=3))[None] / 2
    prep = spectral.prepare(src, ACFG)
    assert prep["mag_mix"].shape == (1, 1, 128, 128) and prep["mags"].shape == (1, 2, 128, 128)
    target, _ = spectral.mask_targets(prep["mags"], prep["mag_mix"], "binary", LOSS)
    masks = (spectral.to_linear(target, ACFG) > 0.5).float()
    spec = spectral.spec(src.sum(dim=1), ACFG)
    est = spectral.apply_masks(masks, spec, ACFG, ACFG["window"])[0].numpy()
    scores = mixture_scores(src[0].numpy(), est, spectral.waveform(spec, ACFG, ACFG["window"])[0].numpy())
    assert scores["sdr"] > 15.0, scores


def test_silent_estimates_are_not_scored():
    src = tones([300.0, 900.0], length=4000)
    assert mixture_scores(src, np.stack([src[0], np.zeros_like(src[1])]), src.sum(0)) is None
    jobs = [(src, src * 0.9, src.sum(0)), (src, np.zeros_like(src), src.sum(0))]
    scores = score_mixtures(jobs, workers=1)
    assert scores[1] is None and scores[0]["sdr"] > 40


def test_blind_nmf_separates_two_timbres_in_the_true_order():
    """The paper's blind NMF-MFCC baseline on a low harmonic tone plus a high noise band: its two
    component groups come back matched to the true sources (in either order given) and well
    above the mixture."""
    from scipy.signal import butter, sosfilt

    from avrepro.tasks.separation.baselines import blind_nmf_masks

    rng = np.random.default_rng(1)
    tone = tones([110.0])[0]
    noise = sosfilt(
        butter(4, [2500, 4000], btype="band", fs=RATE, output="sos"), rng.standard_normal(ACFG["window"])
    ).astype(np.float32)
    noise *= 0.3 * np.std(tone) / np.std(noise)
    for order in ((tone, noise), (noise, tone)):
        src = torch.from_numpy(np.stack(order))[None] / 2
        spec = spectral.spec(src.sum(dim=1), ACFG)
        true_mags = spectral.spec(src, ACFG).abs()[0].numpy()
        masks = blind_nmf_masks(spec[0].abs().numpy(), true_mags, RATE, {"components": 8, "iterations": 100})
        assert masks.shape == (2, 256, 128)
        assert np.allclose(masks.sum(axis=0), 1.0, atol=1e-5)
        est = spectral.apply_masks(torch.from_numpy(masks)[None], spec, ACFG, ACFG["window"])[0].numpy()
        mixture = spectral.waveform(spec, ACFG, ACFG["window"])[0].numpy()
        scores = mixture_scores(src[0].numpy(), est, mixture)
        assert scores["sdr"] - scores["sdr_mixture"] > 6.0, scores
