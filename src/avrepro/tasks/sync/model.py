"""The fused audio-visual synchronisation network of Owens & Efros (ECCV 2018), scaled by params.

Sound: mu-law raw samples -> strided 1-D convs with residual blocks. Video: a 3-D ResNet stem.
Fusion: the sound features are max-pooled to the video's time length, convolved (kernel 3 in
time), tiled over space and concatenated with the video map; a 1x1x1 bottleneck with a shortcut
merges them; 3-D residual blocks follow; a global average pool and a 1x1x1 conv give the logit
(here: evidence that the audio is *shifted*). The same 1x1x1 conv applied to the last conv map,
without its bias, is the class-activation map (CAM): its mean over time and space plus the bias
is exactly the logit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from avrepro.nets.audio1d import WaveformTrunk
from avrepro.nets.video3d import ResBlock3d, VideoStem3d
from avrepro.tasks.sync.names import VARIANTS

# which inputs each variant sees: the shortcut variants are the same net with one input blanked
INPUTS = {"fused": "av", "audio_only": "audio", "video_only": "video"}


class FusionBlock(nn.Module):
    """Concatenate the video map and the tiled sound features, 1x1x1 conv to ``hidden``, 1x1x1
    conv to ``cout``, add a shortcut, BN-ReLU.

    The shortcut is the first ``cout // 2`` video channels next to the last ``cout - cout // 2``
    sound channels (as the official net), or a 1x1x1 conv when either has too few channels.
    """

    def __init__(self, video_ch: int, sound_ch: int, hidden: int, cout: int):
        super().__init__()
        self.video_ch, self.sound_ch, self.cout = video_ch, sound_ch, cout
        cin = video_ch + sound_ch
        self.body = nn.Sequential(
            nn.Conv3d(cin, hidden, 1, bias=False),
            nn.BatchNorm3d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv3d(hidden, cout, 1, bias=False),
        )
        self.slice_short = video_ch >= cout // 2 and sound_ch >= cout - cout // 2
        self.short = None if self.slice_short else nn.Conv3d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, video: torch.Tensor, sound: torch.Tensor) -> torch.Tensor:
        x = torch.cat([video, sound], dim=1)
        if self.slice_short:
            half = self.cout // 2
            short = torch.cat([video[:, :half], sound[:, sound.shape[1] - (self.cout - half) :]], 1)
        else:
            short = self.short(x)
        return torch.relu(self.bn(self.body(x) + short))


class SyncNet(nn.Module):
    """Is the audio in sync with the frames? One logit per (video, audio) pair.

    Args (the ``model`` section of params.yaml, by name):
        audio_widths: conv1, then one residual block per further width.
        audio_kernels: (conv1, residual blocks); audio_strides: (conv1, max pool, blocks).
        video_widths: conv1-2, conv3, conv4, conv5; conv1_kernel: (t, h, w).
        time_strides, space_strides: conv1, conv2_2, conv3_1, conv4_1, conv5_1.
        fusion_audio: sound channels tiled into the video map; fusion_hidden: fusion bottleneck.
        blocks: residual blocks in conv3, conv4, conv5.
        inputs: ``"av"`` (both), ``"audio"`` (frames replaced by zeros) or ``"video"`` (audio
            replaced by silence): the shortcut variants use the very same architecture.
    Shape:
        frames ``(B, 3, T, H, W)`` in [-1, 1], audio ``(B, K, N)`` (K audio tracks per video,
        e.g. the aligned and the shifted one) -> logits ``(B, K)``; with ``cam=True`` also the
        CAM ``(B, K, T'', H'', W'')``.
    """

    def __init__(
        self,
        *,
        audio_widths,
        audio_kernels,
        audio_strides,
        video_widths,
        conv1_kernel,
        time_strides,
        space_strides,
        fusion_audio: int,
        fusion_hidden: int,
        blocks,
        inputs: str = "av",
    ):
        super().__init__()
        if inputs not in ("av", "audio", "video"):
            raise ValueError(f"inputs must be av, audio or video, got {inputs!r}")
        self.inputs = inputs
        aw, vw = list(audio_widths), list(video_widths)
        k1, k = audio_kernels
        s1, pool, s = audio_strides
        ts, ss = list(time_strides), list(space_strides)
        if len(vw) != 4:
            raise ValueError(f"model.video_widths needs 4 entries (conv1-2, conv3, conv4, conv5), got {vw}")
        if len(ts) != 5 or len(ss) != 5:
            raise ValueError(
                "model.time_strides and space_strides need 5 entries (conv1, conv2_2, "
                f"conv3_1, conv4_1, conv5_1), got {ts} and {ss}"
            )
        self.audio = WaveformTrunk(aw, kernel1=k1, stride1=s1, pool=pool, kernel=k, stride=s)
        self.video = VideoStem3d(vw[0], conv1_kernel, (ts[0], ss[0], ss[0]), (ts[1], ss[1], ss[1]))
        fa = fusion_audio
        self.sound_proj = nn.Sequential(
            nn.Conv1d(aw[-1], fa, 3, 1, 1, bias=False), nn.BatchNorm1d(fa), nn.ReLU(inplace=True)
        )
        self.fuse = FusionBlock(vw[0], fa, fusion_hidden, vw[1])
        blocks = list(blocks)
        if len(blocks) != 3 or min(blocks) < 1:
            raise ValueError(f"model.blocks needs 3 counts >= 1 (conv3, conv4, conv5), got {blocks}")
        layers = []
        for stage, n in enumerate(blocks, start=1):  # the first block of a stage strides
            cin, cout = vw[stage - 1] if stage > 1 else vw[1], vw[stage]
            layers.append(ResBlock3d(cin, cout, (ts[stage + 1], ss[stage + 1], ss[stage + 1])))
            layers += [ResBlock3d(cout, cout) for _ in range(n - 1)]
        self.body = nn.Sequential(*layers)
        self.logit = nn.Conv3d(vw[3], 1, 1)

    def _sound(self, audio: torch.Tensor, t: int) -> torch.Tensor:
        """``(B*K, N)`` -> sound features ``(B*K, fa, t)`` at the video's time resolution."""
        feats = self.audio(audio)
        feats = F.adaptive_max_pool1d(feats, t)
        return self.sound_proj(feats)

    def last_conv(self, frames: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """The last conv map ``(B*K, C, T'', H'', W'')`` (row ``b*K + k``: video b with track k)."""
        if audio.dim() != 3 or frames.dim() != 5 or audio.shape[0] != frames.shape[0]:
            raise ValueError(
                f"expected frames (B, 3, T, H, W) and audio (B, K, N), got "
                f"{tuple(frames.shape)} and {tuple(audio.shape)}"
            )
        if self.inputs == "audio":
            frames = torch.zeros_like(frames)
        elif self.inputs == "video":
            audio = torch.zeros_like(audio)
        b, k, n = audio.shape
        vid = self.video(frames)  # (B, Cv, T', H', W')
        vid = vid.repeat_interleave(k, dim=0)  # (B*K, ...), shared video pass
        snd = self._sound(audio.reshape(b * k, n), vid.shape[2])  # (B*K, fa, T')
        snd = snd[:, :, :, None, None].expand(-1, -1, -1, vid.shape[3], vid.shape[4])
        return self.body(self.fuse(vid, snd))

    def forward(self, frames: torch.Tensor, audio: torch.Tensor, cam: bool = False):
        b, k = audio.shape[:2]
        last = self.last_conv(frames, audio)
        logits = self.logit(last.mean(dim=(2, 3, 4), keepdim=True)).view(b, k)
        if not cam:
            return logits
        maps = F.conv3d(last, self.logit.weight)  # no bias: mean(map) + bias = logit
        return logits, maps.view(b, k, *maps.shape[2:])

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """SGD groups: conv/linear weights with weight decay (the official L2 on conv weights
        only), BatchNorm parameters and biases without."""
        decay, plain = [], []
        for p in self.parameters():
            (decay if p.dim() > 1 else plain).append(p)
        return [
            {"params": decay, "lr": lr, "weight_decay": weight_decay},
            {"params": plain, "lr": lr, "weight_decay": 0.0},
        ]


def build_model(variant: str, **arch) -> SyncNet:
    """``fused`` (the published net), ``audio_only`` / ``video_only`` (same net, one input blank);
    ``arch``: the named sizes of :class:`SyncNet`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown sync variant '{variant}' (known: {', '.join(VARIANTS)})")
    return SyncNet(**arch, inputs=INPUTS[variant])
