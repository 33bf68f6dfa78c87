"""Networks of the spatial task: video and audio trunks, 128-d contrastive heads, and the AVSA
transformers over the viewpoints of a clip (Morgado, Li & Vasconcelos, NeurIPS 2020).

The published trunks are an R(2+1)D-18 on 8 frames of 112x112 crops and a 10-layer 2-D CNN on
the 4-channel log-mel spectrogram of the rotated FOA, both giving 512-d embeddings; heads are
linear maps to 128-d, temperature 0.07; the AVSA transformers (depth 2, width 512, expansion 4,
dropout 0.1, no position encoding) predict each viewpoint's audio embedding from all its video
embeddings (``v2a``) and vice versa (``a2v``). Here both trunks are plain conv stacks whose width
and embedding size are parameters (``model.width``, ``model.embed_dim``) so that the default
profile trains on CPU; frames of a crop are embedded one by one and averaged.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from avrepro.tasks.spatial.names import OBJECTIVES

TRUNKS = ("video.", "audio.")  # prefixes of the trunks' weights (what a curriculum carries over)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class ConvTrunk(nn.Module):
    """Conv-BN-ReLU stack doubling the width at each stride-2 stage, global average pool,
    linear map to ``embed_dim``: ``(N, C, H, W) -> (N, embed_dim)``."""

    def __init__(self, in_channels: int, width: int, stages: int, embed_dim: int, stem_stride: int = 1):
        super().__init__()
        layers = [conv_block(in_channels, width, stem_stride)]
        ch = width
        for _ in range(stages):
            layers += [conv_block(ch, ch * 2, 2), conv_block(ch * 2, ch * 2, 1)]
            ch *= 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(ch, embed_dim)
        self.out_dim = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class VideoNet(nn.Module):
    """Crops ``(N, T, 3, h, w)`` in [0, 1] -> ``(N, embed_dim)`` (per-frame trunk, time average)."""

    def __init__(self, width: int, stages: int, embed_dim: int):
        super().__init__()
        self.trunk = ConvTrunk(3, width, stages, embed_dim)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.out_dim = embed_dim

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        if crops.dim() != 5 or crops.shape[2] != 3:
            raise ValueError(f"video crops must be (N, T, 3, h, w), got {tuple(crops.shape)}")
        n, t = crops.shape[:2]
        x = (crops.flatten(0, 1) - self.mean) / self.std
        return self.trunk(x).view(n, t, -1).mean(1)


def rotate_foa(wav: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Turn FOA ``(N, 4, samples)`` by rotations ``(N, K, 3, 3)`` of the (front, left, up) dipoles
    -> ``(N, K, 4, samples)`` (the batched form of :func:`avrepro.audio.ambisonics.rotate`'s
    matrix action; channels W, Y, Z, X, W unchanged)."""
    k = rot.shape[1]
    xyz = wav[:, [3, 1, 2]]  # (front, left, up)
    turned = torch.matmul(rot.to(wav.dtype), xyz[:, None])  # (N, K, 3, samples)
    w = wav[:, None, :1].expand(-1, k, -1, -1)
    return torch.cat([w, turned[:, :, [1, 2, 0]]], dim=2)


class LogMel(nn.Module):
    """FOA waveforms ``(N, 4, samples)`` -> features ``(N, [K,] C, frames, n_mels)``.

    ``logmel`` (the paper's input, C = 4): magnitude mel spectrogram (power 1) of W, Y, Z, X, in
    dB with ``top_db`` below each example's maximum over all channels, then standardised per
    example over all channels together (so the level of Y, Z, X relative to W is kept).
    ``logmel_iv`` (C = 7) adds the active intensity vector per mel band,
    ``Re(conj(W) [X, Y, Z]) / ((|W|^2 + |X|^2 + |Y|^2 + |Z|^2) / 2)`` (mel-binned numerator over
    mel-binned denominator, in [-1, 1]; 1 along the arrival direction of a plane wave): magnitudes
    alone cannot tell a source in front from one behind (``|X|`` is the same) nor left from right,
    the intensity's sign can. With rotations ``(N, K, 3, 3)`` each window is first turned K ways
    (:func:`rotate_foa`).
    """

    def __init__(
        self, sample_rate: int, n_fft: int, hop: int, n_mels: int, top_db: float, features: str = "logmel"
    ):
        super().__init__()
        if features not in ("logmel", "logmel_iv"):
            raise ValueError(f"audio.features must be logmel or logmel_iv, got {features!r}")
        self.n_fft, self.hop, self.top_db, self.features = n_fft, hop, float(top_db), features
        self.channels = 4 if features == "logmel" else 7
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("fb", fb, persistent=False)  # (F, n_mels)

    def forward(self, wav: torch.Tensor, rot: torch.Tensor | None = None) -> torch.Tensor:
        with torch.autocast(wav.device.type, enabled=False):  # dB and ratios in full precision
            return self._features(wav.float(), rot)

    def _features(self, wav: torch.Tensor, rot: torch.Tensor | None) -> torch.Tensor:
        if rot is not None:
            wav = rotate_foa(wav, rot)  # (N, K, 4, samples)
        lead = wav.shape[:-1]
        spec = torch.stft(
            wav.reshape(-1, wav.shape[-1]),
            self.n_fft,
            self.hop,
            window=self.window,
            center=True,
            return_complex=True,
        )
        spec = spec.view(*lead, *spec.shape[-2:]).transpose(-1, -2)  # (..., 4, T, F)
        mag = spec.abs()
        mel = torch.matmul(mag, self.fb)  # (..., 4, T, n_mels)
        db = 20.0 * torch.log10(mel.clamp_min(1e-10))
        dims = (-3, -2, -1)
        db = torch.maximum(db, db.amax(dim=dims, keepdim=True) - self.top_db)
        mu = db.mean(dim=dims, keepdim=True)
        sd = db.std(dim=dims, keepdim=True).clamp_min(1e-3)
        out = (db - mu) / sd
        if self.features == "logmel":
            return out
        w = spec[..., :1, :, :]
        inten = (w.conj() * spec[..., [3, 1, 2], :, :]).real  # (..., 3, T, F): x, y, z
        energy = 0.5 * (mag**2).sum(dim=-3, keepdim=True)  # (..., 1, T, F)
        iv = torch.matmul(inten, self.fb) / torch.matmul(energy, self.fb).clamp_min(1e-12)
        return torch.cat([out, iv.clamp(-1, 1)], dim=-3)


class AudioNet(nn.Module):
    """FOA ``(N, 4, samples)`` -> ``(N, embed_dim)``, or with rotations ``(N, K, 3, 3)`` toward K
    viewpoints -> ``(N, K, embed_dim)``, through the log-mel front end (:class:`LogMel`)."""

    def __init__(self, logmel: LogMel, width: int, stages: int, embed_dim: int):
        super().__init__()
        self.logmel = logmel
        self.trunk = ConvTrunk(self.logmel.channels, width, stages, embed_dim, stem_stride=2)
        self.out_dim = embed_dim

    def forward(self, foa: torch.Tensor, rot: torch.Tensor | None = None) -> torch.Tensor:
        if foa.dim() != 3 or foa.shape[1] != 4:
            raise ValueError(f"FOA audio must be (N, 4, samples), got {tuple(foa.shape)}")
        x = self.logmel(foa, rot)
        if rot is None:
            return self.trunk(x)
        n, k = x.shape[:2]
        return self.trunk(x.flatten(0, 1)).view(n, k, -1)


def transformer(dim: int, heads: int, expansion: int, dropout: float, depth: int) -> nn.TransformerEncoder:
    """Self-attention over a clip's viewpoint embeddings (no position encoding: a set)."""
    layer = nn.TransformerEncoderLayer(dim, heads, dim * expansion, dropout, batch_first=True)
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class SpatialModel(nn.Module):
    """Both trunks plus the heads of one objective.

    ``objective="avc"``: ``video_proj``/``audio_proj`` (128-d), cross-modal instance
    discrimination. ``objective="avsa"``: ``v2a``/``a2v`` transformers over the viewpoints and four
    128-d heads (``video_head``, ``audio_head`` for the targets, ``video_pred_head``,
    ``audio_pred_head`` for the transformers' predictions). ``temperature`` is the objective's
    InfoNCE temperature (read by the losses, not a weight).
    """

    def __init__(
        self,
        objective: str,
        logmel: LogMel,
        *,
        width: int,
        video_stages: int,
        audio_stages: int,
        embed_dim: int,
        proj_dim: int,
        temperature: float,
        transformer_heads: int,
        transformer_expansion: int,
        transformer_dropout: float,
        transformer_depth: int,
    ):
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"spatial objective must be avc or avsa, got {objective!r}")
        self.objective, self.temperature = objective, temperature
        dim, proj = embed_dim, proj_dim
        self.video = VideoNet(width, video_stages, dim)
        self.audio = AudioNet(logmel, width, audio_stages, dim)
        if objective == "avc":
            self.video_proj, self.audio_proj = nn.Linear(dim, proj), nn.Linear(dim, proj)
        else:
            tf = (transformer_heads, transformer_expansion, transformer_dropout, transformer_depth)
            self.v2a, self.a2v = transformer(dim, *tf), transformer(dim, *tf)
            self.video_head, self.audio_head = nn.Linear(dim, proj), nn.Linear(dim, proj)
            self.video_pred_head, self.audio_pred_head = nn.Linear(dim, proj), nn.Linear(dim, proj)

    @property
    def has_transformer(self) -> bool:
        return self.objective == "avsa"

    def embed(
        self, crops: torch.Tensor, foa: torch.Tensor, rot: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-viewpoint trunk embeddings ``(B, K, D)`` of crops ``(B, K, T, 3, h, w)`` and of the
        clip's FOA ``(B, 4, samples)`` turned by ``rot`` ``(B, K, 3, 3)`` toward each viewpoint."""
        b, k = crops.shape[:2]
        v = self.video(crops.flatten(0, 1)).view(b, k, -1)
        return v, self.audio(foa, rot)

    def predict_audio(self, v: torch.Tensor) -> torch.Tensor:
        """The transformer's audio-embedding prediction for each viewpoint from all of a clip's
        video embeddings ``(B, K, D)``; the video embeddings themselves without a transformer."""
        return self.v2a(v) if self.has_transformer else v

    def forward(self, crops: torch.Tensor, foa: torch.Tensor, rot: torch.Tensor) -> dict[str, torch.Tensor]:
        """The 128-d vectors the objective contrasts, each ``(B, K, proj_dim)``: ``v``/``a`` (AVC),
        or ``v_pred``/``v_trg``/``a_pred``/``a_trg`` (AVSA, predictions from the other modality)."""
        v, a = self.embed(crops, foa, rot)
        if self.objective == "avc":
            return {"v": self.video_proj(v), "a": self.audio_proj(a)}
        return {
            "v_pred": self.video_pred_head(self.a2v(a)),
            "v_trg": self.video_head(v),
            "a_pred": self.audio_pred_head(self.v2a(v)),
            "a_trg": self.audio_head(a),
        }
