"""PixelPlayer (The Sound of Pixels, Zhao et al. ECCV 2018): frame net, sound net, synthesizer.

The frame net turns each video's frames into K sigmoid features per position, max-pooled over
frames and positions into one vector ``v``; the sound net turns the mixture's log-magnitude
(log-frequency) spectrogram into K maps ``s_k``; the linear synthesizer predicts one mask per
video: ``sigmoid(sum_k v_k a_k s_k + b)``. Applying the synthesizer at every position of the
frame map before pooling gives a mask, and so a sound, per pixel (the sound maps).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from avrepro.nets.dilated_resnet import FrameNet
from avrepro.nets.sound_unet import SoundUNet, upsample2x
from avrepro.tasks.separation.names import VARIANTS

ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu, "none": lambda x: x}


class Synthesizer(nn.Module):
    """Linear synthesizer: per-channel scale ``a`` and a bias ``b`` (K + 1 parameters); with
    ``upsample`` its masks are upsampled x2 (the sound net's ``late_upsample``)."""

    def __init__(self, channels: int, upsample: bool = False):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(1))
        self.upsample = upsample

    def forward(self, visual: torch.Tensor, sound: torch.Tensor) -> torch.Tensor:
        """Mask logits. Shape: visual ``(B, N, K)`` (or ``(B, N, P, K)``, one vector per pixel),
        sound ``(B, K, F, T)`` -> ``(B, N, F, T)`` (or ``(B, N, P, F, T)``); with ``upsample``
        sound ``(B, K, F/2, T/2)``."""
        eq = "bnk,bkft->bnft" if visual.dim() == 3 else "bnpk,bkft->bnpft"
        logits = torch.einsum(eq, visual * self.scale, sound) + self.bias
        return upsample2x(logits) if self.upsample else logits


class PixelPlayer(nn.Module):
    """Frame net + sound net + synthesizer.

    Args:
        channels: K (published 32).
        ngf: sound U-Net base width (published 64).
        levels: sound U-Net downsamplings (published 7).
        weights: frame-net ResNet-18 initialisation (``none`` | ``imagenet`` | path).
        output_stride: frame-net output stride (published 16).
        frame_stages: residual stages of the frame net's ResNet-18 (published 4; 3 ends at layer3, 2 and 1
            at layer2 and layer1).
        late_upsample: the sound net's last x2 upsampling after the synthesizer (published: before
            the outermost conv; :class:`~avrepro.nets.sound_unet.SoundUNet`).
        mask_kind: ``binary`` (weighted BCE on |S_n| > 0.5 |mix|) or ``ratio`` (L1 on |S_n| / |mix|).
        visual_activation: on the frame features, ``sigmoid`` (the official default), ``relu`` or
            ``none`` (the official code's ``img_activation`` choices; monotonic, so activating
            before or after the max pool is the same).
        visual_pool: ``max`` (the official default) or ``avg`` over frames and positions (the
            official code's ``img_pool``).
    """

    def __init__(
        self,
        channels: int = 32,
        ngf: int = 64,
        levels: int = 7,
        weights: str = "none",
        output_stride: int = 16,
        mask_kind: str = "binary",
        visual_activation: str = "sigmoid",
        visual_pool: str = "max",
        frame_stages: int = 4,
        late_upsample: bool = False,
    ):
        super().__init__()
        if visual_activation not in ACTIVATIONS:
            raise ValueError(
                f"visual_activation must be one of {', '.join(ACTIVATIONS)}, got {visual_activation!r}"
            )
        self.mask_kind = mask_kind  # what the masks are trained as: binary | ratio
        self.activation = ACTIVATIONS[visual_activation]
        if visual_pool not in ("max", "avg"):
            raise ValueError(f"visual_pool must be max or avg, got {visual_pool!r}")
        self.pool = visual_pool
        self.visual = FrameNet(channels, weights, output_stride, frame_stages)
        self.sound = SoundUNet(channels, ngf, levels, late_upsample)
        self.synthesizer = Synthesizer(channels, late_upsample)

    def frame_maps(self, frames: torch.Tensor) -> torch.Tensor:
        """Activated visual features per position: ``(B, N, n_frames, 3, H, W)`` ->
        ``(B, N, K, n_frames, h, w)``."""
        b, n = frames.shape[:2]
        # the frame net's head and all that follows run in fp32 under autocast: in bf16, sigmoids
        # near 1 tie at the max, and the max pool then spreads its gradient over every tie
        x = self.activation(self.visual(frames.flatten(0, 1)))
        return x.view(b, n, *x.shape[1:])

    def video_vectors(self, maps: torch.Tensor) -> torch.Tensor:
        """Each video's visual vector: its feature maps ``(B, N, K, n_frames, h, w)`` pooled over
        frames and positions (``visual_pool``) -> ``(B, N, K)``."""
        return maps.amax(dim=(3, 4, 5)) if self.pool == "max" else maps.mean(dim=(3, 4, 5))

    def forward(self, log_mag: torch.Tensor, frames: torch.Tensor, window: int | None = None) -> torch.Tensor:
        """Mask logits of every video. Shape: log_mag ``(B, 1, F, T)``, frames
        ``(B, N, n_frames, 3, H, W)`` -> ``(B, N, F, T)``. ``window``: STFT frames the sound net
        sees at a time (:func:`windows`; None: all)."""
        visual = self.video_vectors(self.frame_maps(frames))
        return self.mask_logits(visual, *self.windowed_sound(log_mag, window))

    def mask_logits(
        self, visual: torch.Tensor, spans: list[tuple[int, int]], sounds: list[torch.Tensor]
    ) -> torch.Tensor:
        """The synthesizer on each window's sound (:meth:`windowed_sound`), the windows' frames
        joined: visual ``(B, N, K)`` -> ``(B, N, F, T)``."""
        with torch.autocast(visual.device.type, enabled=False):  # the small linear head in fp32
            parts = [self.synthesizer(visual, sound) for sound in sounds]
        if len(parts) == 1:
            return parts[0]
        given = [p[..., : end - start] for p, (start, end) in zip(parts, spans, strict=True)]
        return torch.cat(given, dim=-1)

    def windowed_sound(
        self, log_mag: torch.Tensor, window: int | None
    ) -> tuple[list[tuple[int, int]], list[torch.Tensor]]:
        """The sound net on each window of ``log_mag`` (one batched pass): the windows' spans
        (:func:`windows`) and their maps ``(B, K, F, window)`` (fp32)."""
        length = log_mag.shape[-1]
        spans = windows(length, window or length)
        if len(spans) == 1:
            return spans, [self.sound(log_mag).float()]
        maps = self.sound(torch.cat([log_mag[..., s : s + window] for s, _ in spans])).float()
        return spans, list(maps.split(len(log_mag)))

    @torch.no_grad()
    def sound_maps(
        self,
        log_mag: torch.Tensor,
        mag: torch.Tensor,
        frames: torch.Tensor,
        frame: int | None = None,
        window: int | None = None,
    ) -> torch.Tensor:
        """Energy of the sound each pixel produces, as a share of the mixture's energy.

        The synthesizer is applied at every position of frame ``frame`` (default: the middle one)
        of each video's feature map: pixel p's mask ``m_p`` gives the energy
        ``sum(m_p * |mix|) / sum(|mix|)`` (on the spectrogram the net sees), ``window`` frames at a
        time (as :meth:`forward`). For a denser map, call it on :meth:`at_map_stride`.

        Shape: log_mag, mag ``(B, 1, F, T)``, frames ``(B, N, n_frames, 3, H, W)`` ->
        ``(B, N, h, w)`` in [0, 1].
        """
        return self.energy_maps(self.frame_maps(frames), mag, *self.windowed_sound(log_mag, window), frame)

    @torch.no_grad()
    def separate_and_map(
        self,
        log_mag: torch.Tensor,
        mag: torch.Tensor,
        frames: torch.Tensor,
        window: int | None = None,
        mapper: PixelPlayer | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward`'s mask logits and :meth:`sound_maps` (middle frame) from one pass of
        each net. ``mapper``: the model that gives the maps' frame features (:meth:`at_map_stride`;
        None: this one, whose frame maps then serve both)."""
        features = self.frame_maps(frames)
        spans, sounds = self.windowed_sound(log_mag, window)
        logits = self.mask_logits(self.video_vectors(features), spans, sounds)
        if mapper is not None and mapper is not self:
            features = mapper.frame_maps(frames)
        return logits, self.energy_maps(features, mag, spans, sounds)

    def energy_maps(
        self,
        features: torch.Tensor,
        mag: torch.Tensor,
        spans: list[tuple[int, int]],
        sounds: list[torch.Tensor],
        frame: int | None = None,
    ) -> torch.Tensor:
        """:meth:`sound_maps` from the frame features ``(B, N, K, n_frames, h, w)`` of
        :meth:`frame_maps` and the sound of :meth:`windowed_sound`: each window's
        :meth:`pixel_energy`, weighted by its share of ``|mix|``."""
        pixel = features[:, :, :, features.shape[3] // 2 if frame is None else frame]
        total = mag.sum(dim=(1, 2, 3)).clamp_min(1e-12)
        out = 0.0
        width = spans[0][1]  # every window's frames (the first one is whole)
        for (start, end), sound in zip(spans, sounds, strict=True):
            given = mag[..., start : start + width].clone()
            given[..., end - start :] = 0  # only the frames this window gives
            share = given.sum(dim=(1, 2, 3)) / total
            out = out + self.pixel_energy(pixel, sound, given) * share[:, None, None, None]
        return out

    @torch.no_grad()
    def pixel_energy(self, maps: torch.Tensor, sound: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
        """Energy share of the sound of every position of ``maps``: pixel p's mask ``m_p`` (the
        synthesizer on its feature vector) gives ``sum(m_p * |mix|) / sum(|mix|)``.

        Shape: maps ``(B, N, K, h, w)`` (activated frame features), sound ``(B, K, F, T)`` (the
        sound net's output), mag ``(B, 1, F, T)`` -> ``(B, N, h, w)`` in [0, 1].
        """
        b, n, k, h, w = maps.shape
        weight = mag[:, 0] / mag[:, 0].sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)
        out = []
        for i in range(b):  # one clip at a time: (N, P, F, T) masks per clip
            pixel = maps[i : i + 1].flatten(3).transpose(2, 3)  # (1, N, P, K)
            masks = torch.sigmoid(self.synthesizer(pixel, sound[i : i + 1]))
            out.append(torch.einsum("bnpft,bft->bnp", masks, weight[i : i + 1]))
        return torch.cat(out).view(b, n, h, w)

    def at_map_stride(self, output_stride: int | None) -> PixelPlayer:
        """This model for sound maps at ``output_stride``: itself at the trained stride (or None),
        else a copy whose frame net runs finer, dilated where it strides (a denser map of the same
        features, :meth:`FrameNet.at_output_stride`)."""
        if output_stride is None or output_stride == self.visual.output_stride:
            return self
        twin = copy.deepcopy(self)
        twin.visual = self.visual.at_output_stride(output_stride)
        return twin

    def param_groups(self, lr_frame: float, lr_sound: float, lr_synthesizer: float) -> list[dict]:
        """As the official code: frame trunk at ``lr_frame``, the frame net's last conv and the
        sound net at ``lr_sound``, the synthesizer at ``lr_synthesizer``."""
        return [
            {"params": list(self.sound.parameters()), "lr": lr_sound, "name": "sound"},
            {"params": list(self.synthesizer.parameters()), "lr": lr_synthesizer, "name": "synthesizer"},
            {"params": list(self.visual.features.parameters()), "lr": lr_frame, "name": "frame"},
            {"params": list(self.visual.fc.parameters()), "lr": lr_sound, "name": "frame_fc"},
        ]


def windows(length: int, window: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the ``window``-frame windows that cover ``length`` frames: side by side
    from 0, the last ending at the end; window k gives the frames ``start:end`` (the last overlaps
    the one before and gives the overlap). A long test mixture is separated so, as a long
    recording is, by a net trained on one window."""
    starts = list(range(0, max(length - window, 0) + 1, window))
    if starts[-1] + window < length:
        starts.append(length - window)
    return list(zip(starts, [*starts[1:], length], strict=True))


def mask_kind(variant: str) -> str:
    """The mask a variant predicts: its name (``binary`` | ``ratio``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown separation variant '{variant}' (known: {', '.join(VARIANTS)})")
    return variant


def build_model(
    variant: str,
    *,
    channels: int,
    ngf: int,
    unet_levels: int,
    weights: str,
    output_stride: int,
    visual_activation: str,
    visual_pool: str,
    frame_stages: int = 4,
    late_upsample: bool = False,
) -> PixelPlayer:
    """The model of ``variant`` (``binary`` or ``ratio``: same net, different mask target) from
    the named settings of the ``model`` section."""
    return PixelPlayer(
        channels=channels,
        ngf=ngf,
        levels=unet_levels,
        weights=weights,
        output_stride=output_stride,
        mask_kind=mask_kind(variant),
        visual_activation=visual_activation,
        visual_pool=visual_pool,
        frame_stages=frame_stages,
        late_upsample=late_upsample,
    )
