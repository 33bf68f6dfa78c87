"""Separation task: the PixelPlayer nets (shapes, dilation, sound maps) and a training step."""

from __future__ import annotations

import pytest
import torch

from avrepro.nets.dilated_resnet import FrameNet, dilated_resnet18
from avrepro.nets.sound_unet import SoundUNet, upsample2x
from avrepro.tasks.separation import spectral
from avrepro.tasks.separation.model import PixelPlayer, build_model, windows
from avrepro.tasks.separation.task import SeparationTask
from helpers.configs import task_config

# the smoke profile's net, its trunk to layer3 at output stride 16; a longer window: 128 rows x 128 frames
CFG = task_config(
    "separation",
    {
        "model": {"output_stride": 16, "frame_stages": 3},
        "audio": {"window": 16383, "n_fft": 510, "hop": 128, "warp_bins": 128, "log_freq": True},
    },
)
MODEL, ACFG = CFG["model"], CFG["audio"]


@pytest.mark.parametrize(
    ("stride", "stages"), [(4, 4), (8, 4), (16, 4), (32, 4), (4, 3), (8, 3), (16, 3), (4, 2), (8, 2), (4, 1)]
)
def test_dilated_trunk_output_stride(stride, stages):
    trunk, note = dilated_resnet18("none", stride, stages)
    assert note == "random init"
    with torch.no_grad():
        out = trunk.eval()(torch.zeros(1, 3, 64, 128))
    assert out.shape == (1, {1: 64, 2: 128, 3: 256, 4: 512}[stages], 64 // stride, 128 // stride)


def test_dilated_trunk_rejects_other_strides_and_stages():
    with pytest.raises(ValueError, match="output_stride"):
        dilated_resnet18("none", 2)
    for stride, stages in ((32, 3), (16, 2), (8, 1), (4, 0), (8, 5)):
        with pytest.raises(ValueError, match="frame stages"):
            dilated_resnet18("none", stride, stages)


def test_frame_net_and_sound_net_shapes():
    net = FrameNet(channels=8).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, 3, 3, 64, 96)).shape == (2, 8, 3, 4, 6)  # (B, K, frames, h, w)
    unet = SoundUNet(channels=8, ngf=4, levels=7).eval()
    with torch.no_grad():
        assert unet(torch.zeros(2, 1, 128, 128)).shape == (2, 8, 128, 128)
    with pytest.raises(ValueError, match="multiple of 128"):
        unet(torch.zeros(1, 1, 128, 64))


def test_late_upsample_gives_the_masks_of_upsampling_first():
    torch.manual_seed(0)
    late = SoundUNet(channels=8, ngf=4, levels=7, late_upsample=True).eval()
    with torch.no_grad():
        half = late(torch.randn(2, 1, 128, 128))
    assert half.shape == (2, 8, 64, 64)
    # the synthesizer is linear: upsampling its masks equals upsampling the K maps before it
    # (bilinear weights sum to 1, so the bias passes unchanged), per video and per pixel
    model = build_model("binary", **{**MODEL, "late_upsample": True}).eval()
    with torch.no_grad():
        model.synthesizer.bias.fill_(0.3)
        for visual in (torch.rand(2, 3, 8), torch.rand(2, 3, 5, 8)):
            late_masks = model.synthesizer(visual, half)
            model.synthesizer.upsample = False
            early_masks = model.synthesizer(visual, upsample2x(half))
            model.synthesizer.upsample = True
            assert late_masks.shape[-2:] == (128, 128)
            assert torch.allclose(late_masks, early_masks, atol=1e-5)
        assert model(torch.randn(2, 1, 128, 128), torch.randn(2, 3, 1, 3, 64, 128)).shape == (2, 3, 128, 128)


def test_pixelplayer_masks_and_sound_maps():
    model = build_model("binary", **MODEL).eval()
    assert model.mask_kind == "binary"
    log_mag = torch.randn(2, 1, 128, 128)
    frames = torch.randn(2, 3, 1, 3, 64, 128)  # B=2 mixtures of N=3 videos, one frame each
    with torch.no_grad():
        logits = model(log_mag, frames)
        maps = model.sound_maps(log_mag, log_mag.exp(), frames)
    assert logits.shape == (2, 3, 128, 128)
    assert maps.shape == (2, 3, 4, 8)
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1
    # pixel maps are the pooled path applied per position: with a visual map that is 1 in
    # every channel at one position and 0 elsewhere, that position's sound is the pooled mask's
    # sound, and every other position's is that of the bias alone (sigmoid(0) = 1/2)
    visual = torch.zeros(1, 1, 8, 1, 4, 8)
    visual[..., 2, 5] = 1.0
    model.frame_maps = lambda _frames: visual
    mag = log_mag[:1].exp()
    with torch.no_grad():
        pooled = torch.sigmoid(model(log_mag[:1], frames[:1, :1]))
        pixel = model.sound_maps(log_mag[:1], mag, frames[:1, :1])
    energy = float((pooled[0, 0] * mag[0, 0]).sum() / mag[0, 0].sum())
    assert float(pixel[0, 0, 2, 5]) == pytest.approx(energy, rel=1e-5)
    others = torch.cat([pixel[0, 0].flatten()[:21], pixel[0, 0].flatten()[22:]])
    assert torch.allclose(others, torch.full_like(others, 0.5), atol=1e-6)
    with pytest.raises(ValueError, match="unknown separation variant"):
        build_model("soft", **MODEL)


@pytest.mark.parametrize(("trained", "stages", "finer"), [(8, 3, 4), (16, 4, 4), (16, 4, 8), (8, 2, 4)])
def test_a_finer_stride_samples_the_trained_features_densely(trained, stages, finer):
    """Sound maps at ``eval.map_output_stride``: the frame net's twin at a finer stride holds the
    trained net's features at every (trained / finer)-th cell and new ones between them; so do
    the sound maps. The trained net is left as it was; a coarser stride is refused."""
    torch.manual_seed(0)
    net = FrameNet(channels=8, output_stride=trained, stages=stages).eval()
    before = repr(net)
    twin = net.at_output_stride(finer)
    frames = torch.randn(2, 1, 3, 64, 128)
    r = trained // finer
    with torch.no_grad():
        coarse, dense = net(frames), twin(frames)
    assert dense.shape[-2:] == (64 // finer, 128 // finer) and not twin.training
    assert torch.allclose(dense[..., ::r, ::r], coarse, atol=1e-5)
    assert not torch.allclose(dense[..., 1::r, 1::r], coarse, atol=1e-2)  # new cells in between
    assert repr(net) == before and net.output_stride == trained
    with pytest.raises(ValueError, match="coarser than the trained"):
        net.at_output_stride(2 * trained)
    model = build_model("binary", **{**MODEL, "output_stride": trained, "frame_stages": stages}).eval()
    log_mag, video = torch.randn(1, 1, 128, 128), torch.randn(1, 2, 1, 3, 64, 128)
    with torch.no_grad():
        maps = model.sound_maps(log_mag, log_mag.exp(), video)
        finer_maps = model.at_map_stride(finer).sound_maps(log_mag, log_mag.exp(), video)
    assert finer_maps.shape == (1, 2, 64 // finer, 128 // finer)
    assert torch.allclose(finer_maps[..., ::r, ::r], maps, atol=1e-5)


@pytest.mark.parametrize("late", [False, True])
def test_a_long_spectrogram_is_separated_window_by_window(late):
    """Test mixtures longer than the training window (eval.window): the net sees one training
    window at a time, side by side, the last one ending at the end and giving the overlap; the
    masks and the sound maps are those of the windows, joined."""
    assert windows(352, 128) == [(0, 128), (128, 224), (224, 352)]
    assert windows(256, 128) == [(0, 128), (128, 256)] and windows(100, 128) == [(0, 100)]
    torch.manual_seed(0)
    model = build_model("binary", **{**MODEL, "late_upsample": late}).eval()
    log_mag, frames = torch.randn(2, 1, 128, 352), torch.randn(2, 3, 1, 3, 64, 128)  # 2.75 windows
    mag = log_mag.exp()
    with torch.no_grad():
        logits = model(log_mag, frames, 128)
        maps = model.sound_maps(log_mag, mag, frames, window=128)
        parts = [model(log_mag[..., s : s + 128], frames) for s in (0, 128, 224)]
        halves = [
            model.sound_maps(log_mag[..., s : s + 128], mag[..., s : s + 128], frames) for s in (0, 128)
        ]
        two = model.sound_maps(log_mag[..., :256], mag[..., :256], frames, window=128)
    assert logits.shape == (2, 3, 128, 352) and maps.shape == (2, 3, 4, 8)
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1
    for (start, end), part in zip(windows(352, 128), parts, strict=True):
        assert torch.allclose(logits[..., start:end], part[..., : end - start], atol=1e-5)
    # two windows' maps: each window's energy shares, weighted by its share of the mixture's energy
    mass = [mag[..., s : s + 128].sum(dim=(1, 2, 3))[:, None, None, None] for s in (0, 128)]
    expected = (halves[0] * mass[0] + halves[1] * mass[1]) / (mass[0] + mass[1])
    assert torch.allclose(two, expected, atol=1e-5)
    assert torch.equal(model(log_mag[..., :128], frames, 128), parts[0])


def test_autocast_keeps_the_frame_head_and_synthesizer_in_fp32():
    """Under bf16 autocast the trunks run in bf16 but the frame head, the max pool and the
    synthesizer stay fp32, so near-1 sigmoids do not tie at the pool's maximum."""
    model = build_model("binary", **MODEL).eval()
    log_mag, frames = torch.randn(2, 1, 128, 128), torch.randn(2, 2, 1, 3, 64, 128)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.visual.features(frames[:, 0, 0]).dtype == torch.bfloat16
        assert model.frame_maps(frames).dtype == torch.float32
        logits16 = model(log_mag, frames)
    with torch.no_grad():
        logits32 = model(log_mag, frames)
    assert logits16.dtype == torch.float32
    assert torch.allclose(logits16, logits32, atol=0.1)  # same masks, up to bf16 trunks


def test_param_groups_cover_every_parameter_once():
    model = PixelPlayer(8, 4, 7)
    groups = SeparationTask().param_groups(
        model,
        task_config("separation", {"train": {"lr_frame": 1e-4, "lr_sound": 1e-3, "lr_synthesizer": 2e-3}}),
    )
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs == {"sound": 1e-3, "synthesizer": 2e-3, "frame": 1e-4, "frame_fc": 1e-3}


@pytest.mark.parametrize("variant", ["binary", "ratio"])
def test_a_few_training_steps_lower_the_loss(variant):
    """Two 'videos' (a red and a blue frame) and two tones: a few Adam steps on one batch
    lower the mix-and-separate loss."""
    torch.manual_seed(0)
    t = torch.arange(ACFG["window"]) / 11025.0
    low = 0.3 * torch.sin(2 * torch.pi * 220 * t)
    high = 0.3 * torch.sin(2 * torch.pi * 1760 * t)
    audio = torch.stack([torch.stack([low, high]), torch.stack([high, low])]) / 2  # (B=2, N=2, L)
    red = torch.zeros(3, 32, 32)
    red[0] = 2.0
    blue = torch.zeros(3, 32, 32)
    blue[2] = 2.0
    frames = torch.stack([torch.stack([red, blue]), torch.stack([blue, red])])[:, :, None]
    cfg = task_config("separation", {"model": {**MODEL, "channels": 4, "ngf": 2}, "audio": ACFG})
    task = SeparationTask()
    model = task.build_model(cfg, variant)
    model.train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    batch = {"audio": audio, "frames": frames}
    losses = []
    for _ in range(10):
        loss = task.losses(model, batch, cfg)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    prep = spectral.prepare(audio, ACFG)
    assert torch.isfinite(prep["log_mag"]).all()


@pytest.mark.parametrize("finer", [None, 4])
def test_evaluation_gets_masks_and_maps_from_one_pass_of_each_net(finer):
    """``separate_and_map`` (the evaluation's call): the same logits as :meth:`forward` and the
    same maps as :meth:`sound_maps` of the mapper, bit for bit, with each net run once (the
    mapper's frame net for the maps when it is a finer twin)."""
    torch.manual_seed(0)
    model = build_model("binary", **{**MODEL, "output_stride": 8, "frame_stages": 3}).eval()
    mapper = model.at_map_stride(finer)
    log_mag, frames = torch.randn(2, 1, 128, 352), torch.randn(2, 3, 1, 3, 64, 128)
    mag = log_mag.exp()
    with torch.no_grad():
        logits, maps = model(log_mag, frames, 128), mapper.sound_maps(log_mag, mag, frames, window=128)
        calls = []
        nets = {model.visual: "frame", model.sound: "sound", mapper.visual: "frame"}  # the twin's own
        for net, key in nets.items():
            net.register_forward_hook(lambda *_, key=key: calls.append(key))
        both = model.separate_and_map(log_mag, mag, frames, 128, mapper)
    assert torch.equal(both[0], logits) and torch.equal(both[1], maps)
    assert sorted(calls) == ["frame"] * (1 if finer is None else 2) + ["sound"]
