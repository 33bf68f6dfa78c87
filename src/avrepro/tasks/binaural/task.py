"""The binaural task: batch -> losses, clip -> prediction, test split -> metrics.

Losses (each logged as its own curve): ``difference`` (MSE of the U-Net's difference
spectrogram), ``fusion`` (APNet: MSE of 2 L - mix and of mix - 2 R against the difference
spectrogram, averaged, as the official code), ``coherence`` (BCE of the swapped-ears
classifier), ``geometry`` (visual maps of two frames of a clip within ``train.pair_seconds``:
the paper's hinge or the code's MSE), ``rir`` (L1 in dB of the RIR envelope) and ``loss`` =
lambda_B (difference + fusion) + lambda_S coherence + lambda_G geometry + lambda_R rir.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from avrepro.audio.stft import from_realimag, istft, stft, to_realimag
from avrepro.data.cache import FeatureCache
from avrepro.metrics.binaural import clip_metrics, coherence_accuracy, rir_error
from avrepro.metrics.summary import summarize
from avrepro.tasks.binaural.data import (BinauralWindows, frame_index, rms_normalize, test_frame,
                                         window_samples)
from avrepro.tasks.binaural.model import VARIANTS, BinauralNet, build_model, variant_parts
from avrepro.tasks.base import Task
from avrepro.tasks.binaural.figures import FIGURES, METRIC_KEYS
from avrepro.tasks.binaural.rir import cache_targets, clip_rirs, envelope_db, rir_shape
from avrepro.tasks.binaural.sliding import sliding_binauralize, window_starts

BASELINES = ("mono_mono",)
CONTROLS = ("flipped",)  # a trained variant's checkpoint tested with horizontally mirrored frames
FUSION_OUTPUTS = ("unet", "apnet", "mean")


def crop_hw(cfg: dict) -> tuple[int, int]:
    return cfg["frames"]["crop_height"], cfg["frames"]["crop_width"]


def spec_ft(cfg: dict, sample_rate: int) -> tuple[int, int]:
    """(frequency bins, frames) of one window's spectrogram (last bin dropped)."""
    acfg = cfg["audio"]
    return acfg["n_fft"] // 2, 1 + window_samples(acfg, sample_rate) // acfg["hop"]


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


def difference_spec(out: dict, mix_spec: torch.Tensor, which: str = "unet") -> torch.Tensor:
    """Predicted difference spectrogram: the U-Net's, the APNet's (L - R, the mean of its two
    estimates 2 L - mix and mix - 2 R) or the mean of both (``which``)."""
    unet = apply_mask(mix_spec, out["mask"])
    if which == "unet" or "left_mask" not in out:
        return unet
    apnet = apply_mask(mix_spec, out["left_mask"]) - apply_mask(mix_spec, out["right_mask"])
    if which == "apnet":
        return apnet
    if which == "mean":
        return (unet + apnet) / 2
    raise ValueError(f"binaural.eval.fusion_output must be one of {', '.join(FUSION_OUTPUTS)}, got {which!r}")


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
    a, b = v[:n_pairs], v[n_pairs:2 * n_pairs]
    if gcfg["form"] == "mse":
        return F.mse_loss(a, b)
    if gcfg["form"] == "hinge":
        dist = (a - b).norm(dim=1) / a.shape[1] ** 0.5
        return torch.relu(dist - gcfg["margin"]).mean()
    raise ValueError(f"binaural.train.geometry.form must be hinge or mse, got {gcfg['form']!r}")


def unwrap(model: nn.Module) -> BinauralNet:
    """The :class:`BinauralNet` inside DDP / torch.compile wrappers."""
    while not isinstance(model, BinauralNet):
        model = getattr(model, "module", None) or getattr(model, "_orig_mod")
    return model


class BinauralTask(Task):
    """Mono2Binaural / geometry-aware training and the official sliding-window evaluation."""

    name = "binaural"
    variants = VARIANTS
    shortcut_variants = ("audio_only",)
    controls = CONTROLS
    baselines = BASELINES
    metric_keys = METRIC_KEYS
    figures = FIGURES

    def baseline(self, name: str, cfg: dict, test: FeatureCache, *,
                 train: FeatureCache | None = None, progress: bool = True):
        return self.evaluate(None, cfg, test, name, train=train, progress=progress)

    def make_figures(self, cfg, test, models_dir, metrics_dir, predictions_dir, out_dir):
        from avrepro.tasks.binaural.figures import make_figures

        return make_figures(cfg, test, models_dir, metrics_dir, predictions_dir, out_dir)

    def report_section(self, ctx) -> str:
        from avrepro.tasks.binaural.report import binaural_section

        return binaural_section(ctx)

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        shape = rir_shape(cfg["rir"]) if "rir" in cfg else None
        return build_model(variant, cfg["model"], crop_hw(cfg), rir_shape=shape,
                           spec_ft=spec_ft(cfg, cfg["features"]["sample_rate"]))

    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        t = cfg["train"]
        return unwrap(model).param_groups(t["lr_visual"], t["lr_audio"], t["lr_heads"])

    def datasets(self, cfg, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        parts = variant_parts(variant)
        blank = parts.blank_frame
        targets = ((cache_targets(train, cfg["rir"]), cache_targets(val, cfg["rir"]))
                   if parts.rir else (None, None))
        return (BinauralWindows(train, cfg, seed, cfg["train"]["windows_per_clip"], train=True,
                                blank_frame=blank, rir_targets=targets[0]),
                BinauralWindows(val, cfg, seed + 1, cfg["train"]["val_windows_per_clip"],
                                train=False, blank_frame=blank, fixed=True, rir_targets=targets[1]))

    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        acfg, tcfg = cfg["audio"], cfg["train"]
        net = unwrap(model)
        parts = net.parts
        audio, frames = batch["audio"], batch["frame"]
        n_pairs, per_item = audio.shape[:2]
        # pair-major rows: all first windows, then all second windows
        audio = audio.transpose(0, 1).reshape(-1, *audio.shape[2:])
        frames = frames.transpose(0, 1).reshape(-1, *frames.shape[2:])
        mix_spec = mixture_spec(audio[:, 0] + audio[:, 1], acfg)
        target = mixture_spec(audio[:, 0] - audio[:, 1], acfg)
        kwargs = {}
        if parts.coherence:
            swap = batch["swap"].transpose(0, 1).reshape(-1)
            kwargs["coherence_spec"] = ear_specs(audio, acfg, swap)
        if parts.rir and net.training:
            net.rir.observe(batch["rir"])
        out = model(mix_spec, frames, **kwargs)

        lam = tcfg["lambda"]
        losses = {"difference": F.mse_loss(apply_mask(mix_spec, out["mask"]), target)}
        binaural = losses["difference"]
        if "left_mask" in out:
            left, right = apply_mask(mix_spec, out["left_mask"]), apply_mask(mix_spec, out["right_mask"])
            losses["fusion"] = (F.mse_loss(2 * left - mix_spec, target)
                                + F.mse_loss(mix_spec - 2 * right, target)) / 2
            binaural = binaural + losses["fusion"]
        total = lam["binaural"] * binaural
        if "coherence_logit" in out:
            losses["coherence"] = F.binary_cross_entropy_with_logits(out["coherence_logit"].float(), swap)
            total = total + lam["coherence"] * losses["coherence"]
        if parts.geometry:
            if per_item < 2:
                raise ValueError("the geometry loss needs pairs of windows per item")
            losses["geometry"] = geometry_loss(out["visual_map"], n_pairs, tcfg["geometry"])
            total = total + lam["geometry"] * losses["geometry"]
        if "rir" in out:
            rir_target = batch["rir"].repeat(per_item, 1, 1, 1)
            losses["rir"] = F.l1_loss(out["rir"].float(), rir_target)
            total = total + lam["rir"] * losses["rir"]
        return {"loss": total, **losses}

    # ---------------------------------------------------------------------------------------
    # evaluation

    @torch.no_grad()
    def _clip_visual(self, net: BinauralNet, cfg: dict, frames: np.ndarray, indices: list[int],
                     mode: str) -> tuple[dict, dict[int, int]]:
        """Visual features of the distinct frames ``indices`` (once each) and frame -> row."""
        device = next(net.parameters()).device
        unique = sorted(set(indices))
        imgs = []
        for f in unique:
            frame = frames[f][:, ::-1] if mode == "flipped" else frames[f]
            imgs.append(test_frame(np.ascontiguousarray(frame), crop_hw(cfg)))
        imgs = torch.stack(imgs)
        if mode == "blank":
            imgs = torch.zeros_like(imgs)
        feats = [net.encode(imgs[b:b + cfg["eval"]["batch_windows"]].to(device))
                 for b in range(0, len(imgs), cfg["eval"]["batch_windows"])]
        visual = {k: torch.cat([f[k] for f in feats]) for k in feats[0]}
        return visual, {f: r for r, f in enumerate(unique)}

    @torch.no_grad()
    def binauralize(self, model: nn.Module, cfg: dict, binaural: np.ndarray, frames: np.ndarray,
                    sample_rate: int, fps: float, mode: str = "frame") -> dict:
        """Sliding-window prediction of one clip and the heads' test outputs.

        Args:
            binaural: ``(2, T)`` reference pair (its mixture is the input; see
                :func:`sliding_binauralize`).
            mode: ``frame`` (the true frames), ``flipped`` (mirrored) or ``blank``.
        Returns:
            ``{"audio": (2, T)}`` plus ``coherence_correct`` (per window and order, 0/1) with a
            coherence head and ``rir`` ``(2, bands, bins)`` dB (mean over the clip's frames) with
            a RIR head.
        """
        net = unwrap(model)
        acfg, ecfg = cfg["audio"], cfg["eval"]
        n = window_samples(acfg, sample_rate)
        hop = max(1, int(round(ecfg["hop_seconds"] * sample_rate)))
        starts = window_starts(binaural.shape[-1], n, hop)
        findex = [frame_index((s + n / 2) / sample_rate, fps, len(frames)) for s in starts]
        visual, row = self._clip_visual(net, cfg, frames, findex, mode)
        device = next(net.parameters()).device
        bw = ecfg["batch_windows"]

        def select(idx: list[int]) -> dict:
            rows = torch.tensor([row[f] for f in idx], device=device)
            return {k: v[rows] for k, v in visual.items()}

        def predict(mix: np.ndarray, win_starts: list[int]) -> np.ndarray:
            out = []
            for b in range(0, len(mix), bw):
                spec = mixture_spec(torch.from_numpy(mix[b:b + bw]).to(device), acfg)
                res = net(spec, visual=select(findex[b:b + bw]))
                diff = difference_spec(res, spec, ecfg["fusion_output"])
                full = F.pad(from_realimag(diff), (0, 0, 0, 1))  # restore the dropped bin
                out.append(istft(full, acfg["n_fft"], acfg["hop"], acfg["win"], n).cpu().numpy())
            return np.concatenate(out)

        result = {"audio": sliding_binauralize(binaural, n, hop, acfg["rms"], predict)}
        if net.coherence is not None:
            # the classifier sees the true ears, in order and swapped, on windows every
            # eval.coherence_hop_seconds (their frames are among the sliding windows' frames)
            c_hop = max(1, int(round(ecfg["coherence_hop_seconds"] * sample_rate)))
            c_starts = window_starts(binaural.shape[-1], n, c_hop)
            c_index = [frame_index((s + n / 2) / sample_rate, fps, len(frames)) for s in c_starts]
            missing = sorted(set(c_index) - set(row))
            if missing:  # a frame no sliding window used: encode it too
                extra, extra_row = self._clip_visual(net, cfg, frames, missing, mode)
                visual = {k: torch.cat([visual[k], extra[k]]) for k in visual}
                row.update({f: len(row) + r for f, r in extra_row.items()})
            correct = []
            for b in range(0, len(c_starts), bw):
                segs = np.stack([rms_normalize(binaural[:, s:s + n], acfg["rms"])[0]
                                 for s in c_starts[b:b + bw]])
                audio = torch.from_numpy(segs).to(device)
                vmap = select(c_index[b:b + bw])["map"]
                for label in (0.0, 1.0):
                    swap = torch.full((len(segs),), label, device=device)
                    logit = net.coherence(ear_specs(audio, acfg, swap), vmap)
                    correct.append(((logit > 0).float() == swap).cpu().numpy())
            result["coherence_correct"] = np.concatenate(correct)
        if net.rir is not None:
            result["rir"] = net.rir(visual["map"]).mean(0).cpu().numpy()
        return result

    def evaluate(self, model: nn.Module | None, cfg: dict, test: FeatureCache, name: str,
                 train: FeatureCache | None = None, progress: bool = True
                 ) -> tuple[dict, list[dict], dict]:
        """Evaluate a trained variant (``model``, ``name`` = the variant), a control (``model``
        = the trained variant, ``name`` = ``flipped``: mirrored frames) or a baseline
        (``model=None``, ``name`` = ``mono_mono``)."""
        if model is None and name not in BASELINES:
            raise ValueError(f"unknown binaural baseline '{name}' (known: {', '.join(BASELINES)})")
        if model is not None and name not in VARIANTS and name not in CONTROLS:
            raise ValueError(f"unknown binaural variant or control '{name}' "
                             f"(variants: {', '.join(VARIANTS)}; controls: {', '.join(CONTROLS)})")
        net = unwrap(model) if model is not None else None
        if net is not None:
            net.eval()
            mode = "flipped" if name == "flipped" else "blank" if net.parts.blank_frame else "frame"
        rows, predictions, rir_examples = [], {}, {}
        keep = cfg["eval"]["save_predictions"]
        for i in tqdm(range(len(test)), desc=f"evaluate binaural {name}", disable=not progress):
            true = test.audio_float(i)
            row = {"clip_id": test.clip_ids[i]}
            if net is None:  # mono-mono: the mixture's half in both ears
                mono = (true[0] + true[1]) / 2
                pred = np.stack([mono, mono])
                res = {}
            else:
                res = self.binauralize(net, cfg, true, test.frames(i), test.sample_rate, test.fps, mode)
                pred = res["audio"]
            row.update(clip_metrics(pred, true, cfg["audio"]))
            if "coherence_correct" in res:
                row["coherence_accuracy"] = coherence_accuracy(res["coherence_correct"])
            if "rir" in res:
                rirs, rate = clip_rirs(test.meta(i), test.raw_dir)
                true_env = envelope_db(rirs, rate, cfg["rir"])
                mean_env = net.rir.mean().cpu().numpy()
                row["rir_error"] = rir_error(res["rir"], true_env)
                row["rir_error_mean_baseline"] = rir_error(mean_env, true_env)
                if i < keep:
                    rir_examples[test.clip_ids[i]] = {"true": true_env.tolist(),
                                                      "pred": res["rir"].tolist(),
                                                      "mean": mean_env.tolist()}
            rows.append(row)
            if i < keep:
                predictions[test.clip_ids[i]] = pred
        if rir_examples:
            predictions["rir_envelopes.json"] = {
                "bands_hz": list(cfg["rir"]["bands_hz"]), "bin_seconds": cfg["rir"]["bin_seconds"],
                "unit": "dB (10 log10 band energy)", "clips": rir_examples}
        keys = [k for k in ("stft_distance", "env_distance", "coherence_accuracy", "rir_error",
                            "rir_error_mean_baseline") if k in rows[0]]
        return summarize(rows, tuple(keys)), rows, predictions
