"""The binaural task: batch -> losses, clip -> prediction, test split -> metrics."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from avrepro.audio.stft import from_realimag, istft, stft, to_realimag
from avrepro.data.cache import FeatureCache
from avrepro.metrics.binaural import clip_metrics, summarize
from avrepro.tasks.binaural.data import BinauralWindows, frame_index, test_frame, window_samples
from avrepro.tasks.binaural.model import Mono2Binaural, build_model
from avrepro.tasks.binaural.sliding import sliding_binauralize

BASELINES = ("mono_mono",)


def crop_hw(cfg: dict) -> tuple[int, int]:
    return cfg["frames"]["crop_height"], cfg["frames"]["crop_width"]


def mixture_spec(mix: torch.Tensor, audio_cfg: dict) -> torch.Tensor:
    """STFT of the mixture as ``(B, 2, 256, T)`` real/imag, last frequency bin dropped."""
    spec = stft(mix, audio_cfg["n_fft"], audio_cfg["hop"], audio_cfg["win"])[:, :-1]
    return to_realimag(spec)


def predict_diff_spec(model: Mono2Binaural, mix_spec: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Complex mask (real/imag channels) times the mixture spectrogram -> difference spectrogram."""
    mask = model(mix_spec, frames).float()
    real = mix_spec[:, 0] * mask[:, 0] - mix_spec[:, 1] * mask[:, 1]
    imag = mix_spec[:, 0] * mask[:, 1] + mix_spec[:, 1] * mask[:, 0]
    return torch.stack((real, imag), dim=1)


class BinauralTask:
    """Mono2Binaural-style training and the official sliding-window evaluation."""

    name = "binaural"

    def build_model(self, cfg: dict, variant: str) -> nn.Module:
        return build_model(variant, cfg["model"], crop_hw(cfg))

    def param_groups(self, model: nn.Module, cfg: dict) -> list[dict]:
        return model.param_groups(cfg["train"]["lr_visual"], cfg["train"]["lr_audio"])

    def datasets(self, cfg, train: FeatureCache, val: FeatureCache, variant: str, seed: int):
        blank = variant == "audio_only"
        return (BinauralWindows(train, cfg, seed, cfg["train"]["windows_per_clip"], train=True,
                                blank_frame=blank),
                BinauralWindows(val, cfg, seed + 1, 2, train=False, blank_frame=blank, fixed=True))

    def losses(self, model: nn.Module, batch: dict, cfg: dict) -> dict[str, torch.Tensor]:
        audio = batch["audio"]
        mix, diff = audio[:, 0] + audio[:, 1], audio[:, 0] - audio[:, 1]
        mix_spec = mixture_spec(mix, cfg["audio"])
        target = mixture_spec(diff, cfg["audio"])
        pred = predict_diff_spec(model, mix_spec, batch["frame"])
        return {"loss": torch.mean((pred - target) ** 2)}

    @torch.no_grad()
    def binauralize(self, model: Mono2Binaural, cfg: dict, binaural: np.ndarray, frames: np.ndarray,
                    sample_rate: int, fps: float, blank_frame: bool = False) -> np.ndarray:
        """Predict a clip's ``(2, T)`` binaural audio from its mixture and frames (sliding windows)."""
        acfg, ecfg = cfg["audio"], cfg["eval"]
        n = window_samples(acfg, sample_rate)
        device = next(model.parameters()).device

        def predict(mix: np.ndarray, starts: list[int]) -> np.ndarray:
            out = []
            for b in range(0, len(mix), ecfg["batch_windows"]):
                chunk = torch.from_numpy(mix[b:b + ecfg["batch_windows"]]).to(device)
                imgs = torch.stack([test_frame(frames[frame_index((s + n / 2) / sample_rate, fps, len(frames))],
                                               crop_hw(cfg)) for s in starts[b:b + ecfg["batch_windows"]]])
                if blank_frame:
                    imgs = torch.zeros_like(imgs)
                spec = predict_diff_spec(model, mixture_spec(chunk, acfg), imgs.to(device))
                full = torch.nn.functional.pad(from_realimag(spec), (0, 0, 0, 1))  # restore the dropped bin
                out.append(istft(full, acfg["n_fft"], acfg["hop"], acfg["win"], n).cpu().numpy())
            return np.concatenate(out)

        hop = max(1, int(round(ecfg["hop_seconds"] * sample_rate)))
        return sliding_binauralize(binaural, n, hop, acfg["rms"], predict)

    def evaluate(self, model: nn.Module | None, cfg: dict, test: FeatureCache, name: str,
                 progress: bool = True) -> tuple[dict, list[dict], dict]:
        """Evaluate a trained variant (``model``) or a baseline (``model=None``, ``name`` = baseline)."""
        if model is None and name not in BASELINES:
            raise ValueError(f"unknown binaural baseline '{name}' (known: {', '.join(BASELINES)})")
        if model is not None:
            model.eval()
        rows, predictions = [], {}
        keep = cfg["eval"]["save_predictions"]
        for i in tqdm(range(len(test)), desc=f"evaluate binaural {name}", disable=not progress):
            true = test.audio_float(i)
            if model is None:  # mono-mono: the mixture's half in both ears
                mono = (true[0] + true[1]) / 2
                pred = np.stack([mono, mono])
            else:
                pred = self.binauralize(model, cfg, true, test.frames(i), test.sample_rate, test.fps,
                                        blank_frame=name == "audio_only")
            rows.append({"clip_id": test.clip_ids[i], **clip_metrics(pred, true, cfg["audio"])})
            if i < keep:
                predictions[test.clip_ids[i]] = pred
        return summarize(rows), rows, predictions
