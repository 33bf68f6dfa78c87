"""Evaluation of a trained binaural model on the test split.

Each clip is binauralised with the official sliding windows (:mod:`~avrepro.tasks.binaural.sliding`)
and scored with the STFT and envelope distances; a coherence head is scored on the clip's true
ears, in order and swapped; a RIR head against the clip's simulated RIRs, beside the mean training
envelope. The per-clip loop (:func:`score_clips`) is shared with the baselines.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from avrepro.audio.stft import from_realimag, istft
from avrepro.data.cache import FeatureCache
from avrepro.metrics.binaural import clip_metrics, coherence_accuracy, rir_error
from avrepro.metrics.summary import summarize
from avrepro.tasks.base import Evaluation
from avrepro.tasks.binaural.data import frame_index, rms_normalize, test_frame, window_samples
from avrepro.tasks.binaural.losses import apply_mask, ear_specs, mixture_spec
from avrepro.tasks.binaural.model import BinauralNet
from avrepro.tasks.binaural.names import CONTROLS, METRIC_KEYS, VARIANTS
from avrepro.tasks.binaural.rir import clip_rirs, envelope_db
from avrepro.tasks.binaural.sliding import sliding_binauralize, window_starts
from avrepro.video.crop import crop_hw

FUSION_OUTPUTS = ("unet", "apnet", "mean")
SUMMARY_KEYS = METRIC_KEYS + ("rir_error_mean_baseline",)
"""The per-clip keys summarised into a metric file (where the clips have them)."""


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


def window_frames(starts: list[int], window: int, sample_rate: int, fps: float, n_frames: int) -> list[int]:
    """Index of the frame nearest each window's centre."""
    return [frame_index((s + window / 2) / sample_rate, fps, n_frames) for s in starts]


class FrameFeatures:
    """Visual features of a clip's frames, each frame encoded once (in batches of
    ``eval.batch_windows``) and looked up by frame index.

    ``mode``: ``frame`` (the true frames), ``flipped`` (mirrored) or ``blank``.
    """

    def __init__(self, net: BinauralNet, cfg: dict, frames: np.ndarray, mode: str):
        self.net, self.cfg, self.frames, self.mode = net, cfg, frames, mode
        self.device = next(net.parameters()).device
        self.visual: dict[str, torch.Tensor] = {}
        self.row: dict[int, int] = {}

    @torch.no_grad()
    def encode(self, indices: list[int]) -> None:
        """Encode the distinct frames of ``indices`` not encoded yet, in increasing order."""
        new = sorted(set(indices) - set(self.row))
        if not new:
            return
        imgs = []
        for f in new:
            frame = self.frames[f][:, ::-1] if self.mode == "flipped" else self.frames[f]
            imgs.append(test_frame(np.ascontiguousarray(frame), crop_hw(self.cfg["frames"])))
        imgs = torch.stack(imgs)
        if self.mode == "blank":
            imgs = torch.zeros_like(imgs)
        bw = self.cfg["eval"]["batch_windows"]
        feats = [self.net.encode(imgs[b : b + bw].to(self.device)) for b in range(0, len(imgs), bw)]
        visual = {k: torch.cat([f[k] for f in feats]) for k in feats[0]}
        self.row.update({f: len(self.row) + r for r, f in enumerate(new)})
        self.visual = (
            {k: torch.cat([self.visual[k], visual[k]]) for k in self.visual} if self.visual else visual
        )

    def select(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The features of the frames ``indices`` (already encoded), one row each."""
        rows = torch.tensor([self.row[f] for f in indices], device=self.device)
        return {k: v[rows] for k, v in self.visual.items()}


@torch.no_grad()
def predict_differences(
    net: BinauralNet, cfg: dict, mix: np.ndarray, feats: FrameFeatures, findex: list[int], window: int
) -> np.ndarray:
    """Difference windows ``(W, window)`` from the mixture windows ``mix`` whose frames are
    ``findex``, through the head ``eval.fusion_output`` names."""
    acfg, ecfg = cfg["audio"], cfg["eval"]
    bw = ecfg["batch_windows"]
    out = []
    for b in range(0, len(mix), bw):
        spec = mixture_spec(torch.from_numpy(mix[b : b + bw]).to(feats.device), acfg)
        res = net(spec, visual=feats.select(findex[b : b + bw]))
        diff = difference_spec(res, spec, ecfg["fusion_output"])
        full = F.pad(from_realimag(diff), (0, 0, 0, 1))  # restore the dropped bin
        out.append(istft(full, acfg["n_fft"], acfg["hop"], acfg["win"], window).cpu().numpy())
    return np.concatenate(out)


@torch.no_grad()
def coherence_correct(
    net: BinauralNet,
    cfg: dict,
    binaural: np.ndarray,
    feats: FrameFeatures,
    window: int,
    sample_rate: int,
    fps: float,
) -> np.ndarray:
    """The coherence classifier on the true ears, in order and swapped, on windows every
    ``eval.coherence_hop_seconds`` (frames no sliding window used are encoded too): 1 where it
    is right, per window and order."""
    acfg, ecfg = cfg["audio"], cfg["eval"]
    c_hop = max(1, int(round(ecfg["coherence_hop_seconds"] * sample_rate)))
    c_starts = window_starts(binaural.shape[-1], window, c_hop)
    c_index = window_frames(c_starts, window, sample_rate, fps, len(feats.frames))
    feats.encode(c_index)
    bw = ecfg["batch_windows"]
    correct = []
    for b in range(0, len(c_starts), bw):
        segs = np.stack(
            [rms_normalize(binaural[:, s : s + window], acfg["rms"])[0] for s in c_starts[b : b + bw]]
        )
        audio = torch.from_numpy(segs).to(feats.device)
        vmap = feats.select(c_index[b : b + bw])["map"]
        for label in (0.0, 1.0):
            swap = torch.full((len(segs),), label, device=feats.device)
            logit = net.coherence(ear_specs(audio, acfg, swap), vmap)
            correct.append(((logit > 0).float() == swap).cpu().numpy())
    return np.concatenate(correct)


def sliding_hop(eval_cfg: dict, sample_rate: int) -> int:
    """Samples between the starts of two sliding windows (``eval.hop_seconds``)."""
    return max(1, int(round(eval_cfg["hop_seconds"] * sample_rate)))


@torch.no_grad()
def predict_binaural(
    net: BinauralNet,
    cfg: dict,
    binaural: np.ndarray,
    feats: FrameFeatures,
    sample_rate: int,
    fps: float,
    *,
    chunk: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Sliding-window prediction ``(2, T)`` of a clip from the mixture of its reference pair
    ``binaural`` (see :func:`sliding_binauralize`), each window with the frame of ``feats``
    nearest its centre (encoded when first needed); ``chunk``, ``on_chunk``: as there."""
    n = window_samples(cfg["audio"], sample_rate)

    def predict(mix: np.ndarray, win_starts: list[int]) -> np.ndarray:
        findex = window_frames(win_starts, n, sample_rate, fps, len(feats.frames))
        feats.encode(findex)
        return predict_differences(net, cfg, mix, feats, findex, n)

    hop = sliding_hop(cfg["eval"], sample_rate)
    return sliding_binauralize(binaural, n, hop, cfg["audio"]["rms"], predict, chunk=chunk, on_chunk=on_chunk)


@torch.no_grad()
def binauralize(
    net: BinauralNet,
    cfg: dict,
    binaural: np.ndarray,
    frames: np.ndarray,
    sample_rate: int,
    fps: float,
    mode: str = "frame",
) -> dict:
    """Sliding-window prediction of one clip and the heads' test outputs.

    Args:
        net: the plain :class:`BinauralNet`, in evaluation mode.
        binaural: ``(2, T)`` reference pair (its mixture is the input; see
            :func:`sliding_binauralize`).
        mode: ``frame`` (the true frames), ``flipped`` (mirrored) or ``blank``.
    Returns:
        ``{"audio": (2, T)}`` plus ``coherence_correct`` (per window and order, 0/1) with a
        coherence head and ``rir`` ``(2, bands, bins)`` dB (mean over the clip's frames) with
        a RIR head.
    """
    feats = FrameFeatures(net, cfg, frames, mode)
    result = {"audio": predict_binaural(net, cfg, binaural, feats, sample_rate, fps)}
    if net.coherence is not None:
        n = window_samples(cfg["audio"], sample_rate)
        result["coherence_correct"] = coherence_correct(net, cfg, binaural, feats, n, sample_rate, fps)
    if net.rir is not None:
        result["rir"] = net.rir(feats.visual["map"]).mean(0).cpu().numpy()
    return result


def rir_scores(res: dict, meta: dict | None, raw_dir, rir_cfg: dict) -> tuple[dict, dict]:
    """RIR errors of the predicted envelope and of the mean training envelope (``rir_mean``)
    against the clip's true one, and the three envelopes."""
    rirs, rate = clip_rirs(meta, raw_dir)
    true_env = envelope_db(rirs, rate, rir_cfg)
    scores = {
        "rir_error": rir_error(res["rir"], true_env),
        "rir_error_mean_baseline": rir_error(res["rir_mean"], true_env),
    }
    return scores, {"true": true_env, "pred": res["rir"], "mean": res["rir_mean"]}


def score_clips(
    cfg: dict,
    test: FeatureCache,
    name: str,
    predict: Callable[[int, np.ndarray], dict],
    progress: bool = True,
) -> Evaluation:
    """Score ``predict(clip index, true (2, T)) -> {"audio", heads' outputs}`` on every test
    clip; the first ``eval.save_predictions`` clips' audio (and RIR envelopes) are kept."""
    rows, predictions, rir_examples = [], {}, {}
    keep = cfg["eval"]["save_predictions"]
    for i in tqdm(range(len(test)), desc=f"evaluate binaural {name}", disable=not progress):
        true = test.audio_float(i)
        res = predict(i, true)
        row = {"clip_id": test.clip_ids[i], **clip_metrics(res["audio"], true, cfg["audio"])}
        if "coherence_correct" in res:
            row["coherence_accuracy"] = coherence_accuracy(res["coherence_correct"])
        if "rir" in res:
            scores, envelopes = rir_scores(res, test.meta(i), test.raw_dir, cfg["rir"])
            row.update(scores)
            if i < keep:
                rir_examples[test.clip_ids[i]] = {k: v.tolist() for k, v in envelopes.items()}
        rows.append(row)
        if i < keep:
            predictions[test.clip_ids[i]] = res["audio"]
    if rir_examples:
        predictions["rir_envelopes.json"] = {
            "bands_hz": list(cfg["rir"]["bands_hz"]),
            "bin_seconds": cfg["rir"]["bin_seconds"],
            "unit": "dB (10 log10 band energy)",
            "clips": rir_examples,
        }
    keys = tuple(k for k in SUMMARY_KEYS if k in rows[0])
    return summarize(rows, keys), rows, predictions


def frame_mode(net: BinauralNet, flipped: bool = False) -> str:
    """The frames a model is shown (see :class:`FrameFeatures`): ``flipped`` for the mirrored
    control, ``blank`` for a variant trained without frames, else the true ``frame``."""
    return "flipped" if flipped else "blank" if net.parts.blank_frame else "frame"


def evaluate_model(
    net: BinauralNet, cfg: dict, test: FeatureCache, name: str, progress: bool = True
) -> Evaluation:
    """A trained variant (``name`` = the variant) or a control (``net`` = the trained variant,
    ``name`` = ``flipped``: mirrored frames) on the test split."""
    if name not in VARIANTS and name not in CONTROLS:
        raise ValueError(
            f"unknown binaural variant or control '{name}' "
            f"(variants: {', '.join(VARIANTS)}; controls: {', '.join(CONTROLS)})"
        )
    net.eval()
    mode = frame_mode(net, flipped=name == "flipped")

    def predict(i: int, true: np.ndarray) -> dict:
        res = binauralize(net, cfg, true, test.frames(i), test.sample_rate, test.fps, mode)
        if net.rir is not None:
            res["rir_mean"] = net.rir.mean().cpu().numpy()
        return res

    return score_clips(cfg, test, name, predict, progress)
