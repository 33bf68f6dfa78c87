"""The binaural training step's named losses, and the spectrogram arithmetic that evaluation shares.

Losses (each logged as its own curve): ``difference`` (MSE of the U-Net's difference
spectrogram), ``fusion`` (APNet: MSE of 2 L - mix and of mix - 2 R against the difference
spectrogram, averaged, as the official code), ``coherence`` (BCE of the swapped-ears
classifier), ``geometry`` (visual maps of two frames of a clip within ``train.pair_seconds``:
the paper's hinge or the code's MSE), ``rir`` (L1 in dB of the RIR envelope) and ``loss`` =
lambda_B (difference + fusion) + lambda_S coherence + lambda_G geometry + lambda_R rir.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from avrepro.audio.stft import stft, to_realimag
from avrepro.tasks.binaural.model import BinauralNet


def mixture_spec(mix: torch.Tensor, audio_cfg: dict) -> torch.Tensor:
    """STFT of a signal as ``(B, 2, 256, T)`` real/imag, last frequency bin dropped."""
    spec = stft(mix, audio_cfg["n_fft"], audio_cfg["hop"], audio_cfg["win"])[:, :-1]
    return to_realimag(spec)


def apply_mask(mix_spec: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Complex product of a mask and the mixture spectrogram, both as real/imag channels."""
    mask = mask.float()
    real = mix_spec[:, 0] * mask[:, 0] - mix_spec[:, 1] * mask[:, 1]
    imag = mix_spec[:, 0] * mask[:, 1] + mix_spec[:, 1] * mask[:, 0]
    return torch.stack((real, imag), dim=1)


def ear_specs(audio: torch.Tensor, audio_cfg: dict, swap: torch.Tensor) -> torch.Tensor:
    """Coherence input ``(B, 4, 256, T)``: [L re/im, R re/im], or [R, L] where ``swap`` is 1."""
    left, right = mixture_spec(audio[:, 0], audio_cfg), mixture_spec(audio[:, 1], audio_cfg)
    s = swap.view(-1, 1, 1, 1).bool()
    return torch.cat([torch.where(s, right, left), torch.where(s, left, right)], dim=1)


def geometry_loss(vmap: torch.Tensor, n_pairs: int, gcfg: dict) -> torch.Tensor:
    """Geometric consistency between the visual maps of rows ``i`` and ``i + n_pairs``.

    ``hinge`` (the paper): mean of max(||v_t - v_t'|| / sqrt(dim) - margin, 0) (the norm is
    divided by sqrt(dim) so that the margin does not depend on the map size);
    ``mse`` (the official code): mean squared difference.
    """
    v = vmap.float().flatten(1)
    a, b = v[:n_pairs], v[n_pairs : 2 * n_pairs]
    if gcfg["form"] == "mse":
        return F.mse_loss(a, b)
    if gcfg["form"] == "hinge":
        dist = (a - b).norm(dim=1) / a.shape[1] ** 0.5
        return torch.relu(dist - gcfg["margin"]).mean()
    raise ValueError(f"binaural.train.geometry.form must be hinge or mse, got {gcfg['form']!r}")


def pair_major(x: torch.Tensor) -> torch.Tensor:
    """``(items, 2, ...)`` -> ``(2 * items, ...)``: all first windows, then all second windows."""
    return x.transpose(0, 1).reshape(-1, *x.shape[2:])


def step_losses(model: BinauralNet, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
    """The named losses of one batch of window pairs (see the module docstring); ``model`` is
    the plain :class:`BinauralNet`. In training mode the RIR head observes the batch's targets."""
    acfg = cfg["audio"]
    parts = model.parts
    audio, frames = pair_major(batch["audio"]), pair_major(batch["frame"])
    mix_spec = mixture_spec(audio[:, 0] + audio[:, 1], acfg)
    target = mixture_spec(audio[:, 0] - audio[:, 1], acfg)
    kwargs, swap = {}, None
    if parts.coherence:
        swap = pair_major(batch["swap"])
        kwargs["coherence_spec"] = ear_specs(audio, acfg, swap)
    if parts.rir and model.training:
        model.rir.observe(batch["rir"])
    out = model(mix_spec, frames, **kwargs)
    return weighted_losses(out, mix_spec, target, batch, swap, parts.geometry, cfg["train"])


def weighted_losses(
    out: dict,
    mix_spec: torch.Tensor,
    target: torch.Tensor,
    batch: dict,
    swap: torch.Tensor | None,
    geometry: bool,
    tcfg: dict,
) -> dict[str, torch.Tensor]:
    """Each term the outputs allow and ``loss``, their sum weighted by ``train.lambda``."""
    n_pairs, per_item = batch["audio"].shape[:2]
    lam = tcfg["lambda"]
    losses = {"difference": F.mse_loss(apply_mask(mix_spec, out["mask"]), target)}
    binaural = losses["difference"]
    if "left_mask" in out:
        left, right = apply_mask(mix_spec, out["left_mask"]), apply_mask(mix_spec, out["right_mask"])
        losses["fusion"] = (
            F.mse_loss(2 * left - mix_spec, target) + F.mse_loss(mix_spec - 2 * right, target)
        ) / 2
        binaural = binaural + losses["fusion"]
    total = lam["binaural"] * binaural
    if "coherence_logit" in out:
        losses["coherence"] = F.binary_cross_entropy_with_logits(out["coherence_logit"].float(), swap)
        total = total + lam["coherence"] * losses["coherence"]
    if geometry:
        if per_item < 2:
            raise ValueError("the geometry loss needs pairs of windows per item")
        losses["geometry"] = geometry_loss(out["visual_map"], n_pairs, tcfg["geometry"])
        total = total + lam["geometry"] * losses["geometry"]
    if "rir" in out:
        rir_target = batch["rir"].repeat(per_item, 1, 1, 1)
        losses["rir"] = F.l1_loss(out["rir"].float(), rir_target)
        total = total + lam["rir"] * losses["rir"]
    return {"loss": total, **losses}
