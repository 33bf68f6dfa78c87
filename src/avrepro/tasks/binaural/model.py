"""Mono2Binaural (Gao & Grauman, CVPR 2019) and the geometry-aware multi-task model (Garg, Gao &
Grauman, BMVC 2021), built from switchable parts.

Every variant predicts a complex mask on the mixture spectrogram STFT(L+R) whose product is the
difference spectrogram STFT(L-R). On top of that backbone:

- ``film``: the visual vector scales and shifts every decoder level (FiLM; not in the papers).
- ``fusion`` (APNet): the visual map is attended at 4 decoder levels (each visual location's
  projection is matched with the audio features at every time-frequency point) and two heads
  predict complex masks for the left and the right channel.
- ``coherence``: a classifier on the [L, R] or swapped [R, L] spectrograms with the frame's
  visual map (label 1 = swapped).
- ``geometry``: a loss only (see :mod:`avrepro.tasks.binaural.losses`): visual maps of two
  frames of one clip within 1 s are kept close.
- ``rir``: a head predicting the log-energy envelope of the room impulse response
  (:mod:`avrepro.tasks.binaural.rir`) from the visual map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from avrepro.nets.resnet import resnet18_trunk
from avrepro.nets.unet import down_block, up_block
from avrepro.tasks.binaural.names import VARIANTS


@dataclass(frozen=True)
class Parts:
    """Which parts a variant switches on (``geometry`` is a loss term, no module)."""

    film: bool = False
    fusion: bool = False
    coherence: bool = False
    geometry: bool = False
    rir: bool = False
    blank_frame: bool = False


VARIANT_PARTS = {  # keyed by names.VARIANTS, in its order (a test keeps them equal)
    "backbone": Parts(),
    "film": Parts(film=True),
    "audio_only": Parts(film=True, blank_frame=True),
    "fusion": Parts(fusion=True),
    "coherence": Parts(fusion=True, coherence=True),
    "geometry": Parts(fusion=True, geometry=True),
    "rir": Parts(fusion=True, rir=True),
    "full": Parts(fusion=True, coherence=True, geometry=True, rir=True),
}


def variant_parts(variant: str) -> Parts:
    """The parts of ``variant`` (raises naming the known variants)."""
    if variant not in VARIANT_PARTS:
        raise ValueError(f"unknown binaural variant '{variant}' (known: {', '.join(VARIANTS)})")
    return VARIANT_PARTS[variant]


def visual_grid(crop_hw: tuple[int, int]) -> tuple[int, int]:
    """Size of the ResNet-18 map (stride 32) for frames of ``crop_hw``."""
    return -(-crop_hw[0] // 32), -(-crop_hw[1] // 32)


class VisualNet(nn.Module):
    """ResNet-18 trunk -> map ``(B, 512, H/32, W/32)`` and, through a 1x1 conv to ``channels``,
    the flattened vector ``(B, channels * H/32 * W/32)`` of Mono2Binaural."""

    def __init__(self, crop_hw: tuple[int, int], channels: int = 8, weights: str = "none"):
        super().__init__()
        self.trunk, self.weights_note = resnet18_trunk(weights)
        self.reduce = nn.Conv2d(512, channels, 1)
        h, w = visual_grid(crop_hw)
        self.dim = channels * h * w

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        fmap = self.trunk(frames)
        return {"map": fmap, "vec": self.reduce(fmap).flatten(1)}


class AVFusion(nn.Module):
    """APNet's audio-visual attention: each visual location's feature is projected to the audio
    channels (1x1 conv, ReLU) and matched (dot product) with the audio feature at every
    time-frequency point. Shape: audio ``(B, C, F, T)``, visual ``(B, 512, h, w)`` ->
    ``(B, h*w, F, T)`` (one channel per visual location)."""

    def __init__(self, audio_channels: int, visual_channels: int = 512):
        super().__init__()
        self.key = nn.Conv1d(visual_channels, audio_channels, 1)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        keys = torch.relu(self.key(visual.flatten(2)))  # (B, C, hw)
        b, c, f, t = audio.shape
        return torch.bmm(keys.transpose(1, 2), audio.reshape(b, c, f * t)).view(b, -1, f, t)


def _mono_start(head: nn.ConvTranspose2d) -> None:
    """Zero weights and a bias giving the mask 0.5 + 0j after ``sigmoid * 2 - 1``: each channel
    starts as half the mixture, i.e. at mono-mono's prediction."""
    nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.copy_(torch.tensor([math.log(3.0), 0.0]))


class APNet(nn.Module):
    """Left and right complex masks from the decoder features attended with the visual map.

    Shape: decoder features at 1/16, 1/8, 1/4, 1/2 of the spectrogram size with 8, 4, 2, 1 x
    ``ngf`` channels and the visual map ``(B, 512, h, w)`` -> two masks ``(B, 2, F, T)``.
    """

    def __init__(self, ngf: int, locations: int):
        super().__init__()
        self.fuse = nn.ModuleList(AVFusion(ngf * m) for m in (8, 4, 2, 1))
        self.up = nn.ModuleList(
            [
                up_block(locations, locations),
                up_block(2 * locations, locations),
                up_block(2 * locations, locations),
            ]
        )
        self.left = nn.ConvTranspose2d(2 * locations, 2, 4, 2, 1)
        self.right = nn.ConvTranspose2d(2 * locations, 2, 4, 2, 1)
        _mono_start(self.left)
        _mono_start(self.right)

    def forward(
        self, upfeatures: list[torch.Tensor], vmap: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.up[0](self.fuse[0](upfeatures[0], vmap))
        for level in (1, 2):
            x = self.up[level](torch.cat([self.fuse[level](upfeatures[level], vmap), x], dim=1))
        x = torch.cat([self.fuse[3](upfeatures[3], vmap), x], dim=1)
        return (torch.sigmoid(self.left(x)) * 2 - 1, torch.sigmoid(self.right(x)) * 2 - 1)


class CoherenceNet(nn.Module):
    """Spatial-coherence classifier: 5 conv levels on ``(B, 4, F, T)`` = [first ear re/im,
    second ear re/im], fused with the visual map, -> one logit per example (1 = swapped)."""

    def __init__(self, ngf: int, locations: int, spec_ft: tuple[int, int]):
        super().__init__()
        widths = [ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 8]
        self.down = nn.Sequential(
            *(down_block(cin, cout) for cin, cout in zip([4] + widths[:-1], widths, strict=True))
        )
        self.fuse = AVFusion(ngf * 8)
        self.reduce = nn.Sequential(nn.Conv2d(locations, 32, 1), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.fc = nn.Linear(32 * (spec_ft[0] // 32) * (spec_ft[1] // 32), 1)

    def forward(self, spec4: torch.Tensor, vmap: torch.Tensor) -> torch.Tensor:
        x = self.reduce(self.fuse(self.down(spec4), vmap))
        return self.fc(x.flatten(1))[:, 0]


class RIRHead(nn.Module):
    """Log-energy RIR envelope ``(B, 2, bands, bins)`` in dB from the visual map.

    The prediction is the running mean of the training targets (buffers ``target_sum`` and
    ``target_count``, updated by :meth:`observe`; it is also the mean-RIR baseline) plus a
    learned deviation in units of ``db_per_unit`` dB.
    """

    def __init__(
        self, grid: tuple[int, int], shape: tuple[int, int, int], hidden: int = 256, db_per_unit: float = 10.0
    ):
        super().__init__()
        self.shape, self.db_per_unit = tuple(shape), db_per_unit
        dim = int(math.prod(shape))
        self.reduce = nn.Sequential(nn.Conv2d(512, 32, 1), nn.ReLU(inplace=True))
        self.mlp = nn.Sequential(
            nn.Linear(32 * grid[0] * grid[1], hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim)
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        self.register_buffer("target_sum", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("target_count", torch.zeros((), dtype=torch.float64))

    def mean(self) -> torch.Tensor:
        """Mean training target ``(2, bands, bins)`` seen so far (zeros before any)."""
        return (self.target_sum / self.target_count.clamp(min=1)).float().view(self.shape)

    @torch.no_grad()
    def observe(self, target: torch.Tensor) -> None:
        """Add a batch of training targets ``(B, 2, bands, bins)`` to the running mean."""
        self.target_sum += target.detach().double().flatten(1).sum(0)
        self.target_count += target.shape[0]

    def forward(self, vmap: torch.Tensor) -> torch.Tensor:
        delta = self.mlp(self.reduce(vmap).flatten(1)).view(-1, *self.shape)
        return self.mean() + self.db_per_unit * delta


class BinauralNet(nn.Module):
    """Audio U-Net (5 down, 5 up, skips) with the visual vector tiled at the bottleneck, plus
    the parts of :class:`Parts`.

    Args:
        ngf: base width (published 64): channels 2-ngf-2ngf-4ngf-8ngf-8ngf.
        crop_hw: (height, width) of the input frames.
        parts: the variant's parts.
        visual_channels: channels of the 1x1 conv on the ResNet map (published 8).
        weights: visual trunk initialisation (see :func:`resnet18_trunk`).
        coherence_ngf: base width of the coherence classifier's encoder.
        spec_ft: (frequency bins, frames) of the input spectrogram (for the classifier).
        rir_shape: ``(2, bands, bins)`` of the RIR target.
    Shape:
        spec ``(B, 2, F, T)`` real/imag of STFT(L+R) with F, T multiples of 32, frames
        ``(B, 3, H, W)`` (or precomputed ``visual`` from :meth:`encode`) -> dict with ``mask``
        ``(B, 2, F, T)`` in [-1, 1], and per part ``left_mask``/``right_mask``,
        ``coherence_logit`` ``(B,)`` (when ``coherence_spec`` ``(B, 4, F, T)`` is given),
        ``rir`` ``(B, 2, bands, bins)``; ``visual_map`` always.
    """

    def __init__(
        self,
        ngf: int,
        crop_hw: tuple[int, int],
        parts: Parts = Parts(),
        visual_channels: int = 8,
        weights: str = "none",
        coherence_ngf: int = 8,
        spec_ft: tuple[int, int] = (256, 64),
        rir_shape: tuple[int, int, int] | None = None,
    ):
        super().__init__()
        self.parts = parts
        self.visual = VisualNet(crop_hw, visual_channels, weights)
        vdim = self.visual.dim
        grid = visual_grid(crop_hw)
        widths = [ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 8]
        self.down = nn.ModuleList(
            down_block(cin, cout) for cin, cout in zip([2] + widths[:-1], widths, strict=True)
        )
        ups_out = [ngf * 8, ngf * 4, ngf * 2, ngf]
        ups_in = [widths[4] + vdim, ngf * 16, ngf * 8, ngf * 4]
        self.up = nn.ModuleList(up_block(cin, cout) for cin, cout in zip(ups_in, ups_out, strict=True))
        self.final = up_block(ngf * 2, 2, final=True)
        self.film = nn.ModuleList(nn.Linear(vdim, 2 * c) for c in ups_out) if parts.film else None
        if self.film is not None:
            for layer in self.film:  # start as the identity transform
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        # Start from mono-mono: a zero mask predicts no left-right difference, so training begins
        # at the baseline's error instead of a random mask's (sigmoid(0) * 2 - 1 = 0).
        nn.init.zeros_(self.final[0].weight)
        nn.init.zeros_(self.final[0].bias)
        self.apnet = APNet(ngf, grid[0] * grid[1]) if parts.fusion else None
        self.coherence = CoherenceNet(coherence_ngf, grid[0] * grid[1], spec_ft) if parts.coherence else None
        if parts.rir and rir_shape is None:
            raise ValueError("the rir part needs rir_shape (params binaural.rir)")
        self.rir = RIRHead(grid, rir_shape) if parts.rir else None

    def encode(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Visual features ``{"map", "vec"}`` of ``frames`` (computed once per frame in evaluation)."""
        return self.visual(frames)

    def forward(
        self,
        spec: torch.Tensor,
        frames: torch.Tensor | None = None,
        visual: dict[str, torch.Tensor] | None = None,
        coherence_spec: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        if spec.shape[-2] % 32 or spec.shape[-1] % 32:
            raise ValueError(
                f"spectrogram (B, 2, F, T) needs F and T divisible by 32, got {tuple(spec.shape)}"
            )
        if visual is None:
            if frames is None:
                raise ValueError("BinauralNet needs frames or precomputed visual features")
            visual = self.encode(frames)
        vec, vmap = visual["vec"], visual["map"]
        skips, x = [], spec
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = torch.cat([x, vec[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        upfeatures = []
        for level, layer in enumerate(self.up):
            x = layer(x)
            if self.film is not None:
                gamma, beta = self.film[level](vec).chunk(2, dim=1)
                x = x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
            upfeatures.append(x)
            x = torch.cat([x, skips[-2 - level]], dim=1)
        out = {"mask": self.final(x) * 2 - 1, "visual_map": vmap}
        if self.apnet is not None:
            out["left_mask"], out["right_mask"] = self.apnet(upfeatures, vmap)
        if self.coherence is not None and coherence_spec is not None:
            out["coherence_logit"] = self.coherence(coherence_spec, vmap)
        if self.rir is not None:
            out["rir"] = self.rir(vmap)
        return out

    def param_groups(self, lr_visual: float, lr_audio: float, lr_heads: float) -> list[dict]:
        """Adam groups: the visual net, the audio nets (U-Net, FiLM, APNet), the auxiliary heads
        (coherence classifier, RIR head); the official code's lr_visual / lr_audio, lr_fusion /
        lr_cl, lr_gen."""
        groups: dict[str, list] = {"visual": [], "audio": [], "heads": []}
        for name, p in self.named_parameters():
            key = (
                "visual"
                if name.startswith("visual.")
                else "heads"
                if name.startswith(("coherence.", "rir."))
                else "audio"
            )
            groups[key].append(p)
        lrs = {"visual": lr_visual, "audio": lr_audio, "heads": lr_heads}
        return [{"params": ps, "lr": lrs[k]} for k, ps in groups.items() if ps]


def build_model(
    variant: str,
    crop_hw: tuple[int, int],
    *,
    ngf: int,
    visual_channels: int = 8,
    weights: str = "none",
    coherence_ngf: int | None = None,
    spec_ft: tuple[int, int] = (256, 64),
    rir_shape: tuple[int, int, int] | None = None,
    without: tuple[str, ...] = (),
) -> BinauralNet:
    """Build a binaural variant (see ``VARIANT_PARTS``): ``backbone`` (published Mono2Binaural),
    ``film``, ``audio_only`` (FiLM net, blank frame), ``fusion`` (+APNet), ``coherence``,
    ``geometry``, ``rir`` (each fusion + that term) and ``full`` (all). ``coherence_ngf``
    defaults to ``ngf``; ``rir_shape`` is used by the variants with a RIR head only. ``without``
    ``("rir",)`` drops the RIR head (data without simulated RIRs)."""
    parts = variant_parts(variant)
    if "rir" in without:
        parts = replace(parts, rir=False)
    return BinauralNet(
        ngf,
        crop_hw,
        parts,
        visual_channels,
        weights,
        coherence_ngf=ngf if coherence_ngf is None else coherence_ngf,
        spec_ft=spec_ft,
        rir_shape=rir_shape if parts.rir else None,
    )
