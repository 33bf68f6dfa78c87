"""The binaural task on a tiny in-memory cache: window pairs, every loss term of every variant,
the geometric-consistency forms by hand, and the evaluation of variants, controls and baselines."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from avrepro.media import write_wav
from avrepro.tasks.binaural.data import frame_index
from avrepro.tasks.binaural.model import VARIANTS
from avrepro.tasks.binaural.task import BinauralTask, geometry_loss

SR, FPS, SECONDS = 16000, 10.0, 1.3
CFG = {
    "features": {"sample_rate": SR, "frame_width": 68, "frame_height": 34},
    "audio": {"window_seconds": 0.63, "n_fft": 512, "hop": 160, "win": 400, "rms": 0.1},
    "frames": {"crop_width": 64, "crop_height": 32, "jitter": [0.7, 1.3]},
    "model": {"ngf": 4, "visual_channels": 2, "weights": "none", "coherence_ngf": 4},
    "rir": {"seconds": 0.1, "bin_seconds": 0.02, "bands_hz": [0, 2000, 8000], "floor_db": -60.0},
    "train": {"windows_per_clip": 2, "val_windows_per_clip": 1, "pair_seconds": 0.5, "pair_augmentation": "independent",
              "lr_audio": 1e-3, "lr_visual": 1e-3, "lr_heads": 1e-3,
              "lambda": {"binaural": 10.0, "coherence": 1.0, "geometry": 0.01, "rir": 0.1},
              "geometry": {"form": "hinge", "margin": 0.05}},
    "eval": {"hop_seconds": 0.2, "coherence_hop_seconds": 0.3, "batch_windows": 4,
             "save_predictions": 1, "fusion_output": "apnet"},
}


class TinyCache:
    """The subset of :class:`FeatureCache` the task reads, held in memory."""

    def __init__(self, root: Path, n_clips: int = 3, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.raw_dir, self.cache_dir = root, root / "cache"
        self.sample_rate, self.fps = SR, FPS
        self.clip_ids = [f"c{i:03d}" for i in range(n_clips)]
        n, n_frames = int(SECONDS * SR), int(SECONDS * FPS)
        self._audio, self._frames, self._meta = [], [], []
        (root / "rirs").mkdir(parents=True, exist_ok=True)
        for i, cid in enumerate(self.clip_ids):
            mono = rng.standard_normal(n) * np.linspace(0.2, 1.0, n)
            gain_l = 0.3 + 0.5 * (i % 2)                    # odd clips: source on the left
            stereo = np.stack([gain_l * mono, (1.1 - gain_l) * mono]) * 0.3
            self._audio.append(np.clip(np.rint(stereo * 32767), -32767, 32767).astype(np.int16))
            frames = np.zeros((n_frames, 34, 68, 3), dtype=np.uint8)
            x0 = 5 if i % 2 else 45
            frames[:, 10:25, x0:x0 + 15] = 255             # a bright sprite on the source's side
            frames[:, :, :, 1] = np.arange(n_frames, dtype=np.uint8)[:, None, None] * 10
            self._frames.append(frames)
            rir = np.zeros((2 * (1 + i % 2), 1600), dtype=np.float32)  # 1 or 2 sources
            rir[0::2, 40 + 10 * i] = gain_l
            rir[1::2, 42 + 10 * i] = 1.1 - gain_l
            rir[:, 100:] = rng.standard_normal((rir.shape[0], 1500)) * 0.01 * np.exp(-np.arange(1500) / 300)
            write_wav(root / "rirs" / f"{cid}.wav", rir, SR, subtype="FLOAT")
            self._meta.append({"rir": f"rirs/{cid}.wav"})

    def __len__(self):
        return len(self.clip_ids)

    def audio(self, i):
        return self._audio[i]

    def audio_float(self, i):
        return self._audio[i].astype(np.float32) / 32767.0

    def frames(self, i):
        return self._frames[i]

    def info(self, i):
        return {"n_samples": self._audio[i].shape[1], "n_frames": len(self._frames[i])}

    def meta(self, i):
        return self._meta[i]

    def position(self, clip_id):
        return self.clip_ids.index(clip_id)


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    root = tmp_path_factory.mktemp("binaural_task")
    return TinyCache(root / "a", seed=0), TinyCache(root / "b", n_clips=2, seed=1)


def batch_of(ds, n=2):
    items = [ds[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def test_window_pairs(caches):
    train, val = caches
    task = BinauralTask()
    ds, vs = task.datasets(CFG, train, val, "full", seed=0)
    assert len(ds) == 3 * 2 and len(vs) == 2
    item = ds[1]
    assert item["audio"].shape == (2, 2, 10080) and item["frame"].shape == (2, 3, 32, 64)
    assert item["swap"].shape == (2,) and set(item["swap"].tolist()) <= {0.0, 1.0}
    assert item["rir"].shape == (2, 2, 5)
    rms = item["audio"].pow(2).mean(dim=(1, 2)).sqrt()
    torch.testing.assert_close(rms, torch.full((2,), 0.1), rtol=1e-3, atol=0)
    # the same example every time; another epoch draws other windows
    torch.testing.assert_close(ds[1]["audio"], item["audio"])
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["audio"], item["audio"])
    # two frames of the same clip within train.pair_seconds: find the windows by correlation
    clip = train.audio_float(1)
    starts = []
    for w in item["audio"]:
        corr = np.correlate(clip[0], w[0].numpy(), mode="valid")
        starts.append(int(np.argmax(corr)))
    assert abs(starts[0] - starts[1]) <= CFG["train"]["pair_seconds"] * SR
    centres = [frame_index((s + 5040) / SR, FPS, 13) for s in starts]
    assert centres[0] != centres[1]
    assert "rir" not in task.datasets(CFG, train, val, "fusion", seed=0)[0][0]


def test_pair_augmentation(caches, tmp_path):
    """``shared``: an item's two frames get one crop and jitter (a static scene gives two equal
    frames); ``independent``: each frame its own (the official code)."""
    static = TinyCache(tmp_path, n_clips=2, seed=2)
    static._frames = [np.repeat(f[:1], len(f), axis=0) for f in static._frames]
    task = BinauralTask()
    for mode, equal in (("shared", True), ("independent", False)):
        cfg = copy.deepcopy(CFG)
        cfg["train"]["pair_augmentation"] = mode
        item = task.datasets(cfg, static, static, "geometry", seed=0)[0][0]
        assert torch.equal(item["frame"][0], item["frame"][1]) == equal, mode


def test_geometry_loss_by_hand():
    v = torch.zeros(4, 2, 1, 2)          # pairs (0, 2) and (1, 3), maps of 4 values
    v[2] = 1.0                           # pair 0 differs by 1 everywhere: RMS distance 1
    v[3, 0, 0, 0] = 2.0                  # pair 1 differs by 2 in one of 4 values: RMS distance 1
    mse = geometry_loss(v, 2, {"form": "mse", "margin": 0.0})
    assert float(mse) == pytest.approx((4 * 1 + 4) / 8)
    hinge = geometry_loss(v, 2, {"form": "hinge", "margin": 0.25})
    assert float(hinge) == pytest.approx(0.75)
    assert float(geometry_loss(v, 2, {"form": "hinge", "margin": 2.0})) == 0.0
    with pytest.raises(ValueError, match="hinge or mse"):
        geometry_loss(v, 2, {"form": "l1", "margin": 0.0})


EXPECTED = {
    "backbone": {"difference"}, "film": {"difference"}, "audio_only": {"difference"},
    "fusion": {"difference", "fusion"}, "coherence": {"difference", "fusion", "coherence"},
    "geometry": {"difference", "fusion", "geometry"}, "rir": {"difference", "fusion", "rir"},
    "full": {"difference", "fusion", "coherence", "geometry", "rir"},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_losses_of_every_variant(caches, variant):
    train, val = caches
    task = BinauralTask()
    torch.manual_seed(0)
    model = task.build_model(CFG, variant).train()
    batch = batch_of(task.datasets(CFG, train, val, variant, seed=0)[0])
    losses = task.losses(model, batch, CFG)
    assert set(losses) == {"loss"} | EXPECTED[variant]
    lam = CFG["train"]["lambda"]
    total = lam["binaural"] * (losses["difference"] + losses.get("fusion", 0))
    total = total + sum(lam[k] * losses[k] for k in ("coherence", "geometry", "rir") if k in losses)
    torch.testing.assert_close(losses["loss"], total)
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if variant in ("rir", "full"):
        assert float(model.rir.target_count) == 2     # observed in training mode only
        model.eval()
        task.losses(model, batch, CFG)
        assert float(model.rir.target_count) == 2
    if variant == "audio_only":                      # trained on blank frames
        assert torch.count_nonzero(batch["frame"]) == 0


def _perturbed(task, variant, seed=0):
    """A model off its mono-mono start, so that its outputs depend on the frame."""
    torch.manual_seed(seed)
    model = task.build_model(CFG, variant)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1 and ("apnet.left" in name or "apnet.right" in name or "final" in name
                                or "rir.mlp.2" in name):
                p.normal_(std=0.2)
    return model.eval()


def test_evaluate_variant_control_and_baseline(caches):
    train, test = caches
    task = BinauralTask()
    model = _perturbed(task, "full")
    model.rir.observe(torch.from_numpy(np.stack([np.full((2, 2, 5), -20.0, np.float32)])))
    summary, rows, preds = task.evaluate(model, CFG, test, "full", progress=False)
    for key in ("stft_distance", "env_distance", "coherence_accuracy", "rir_error",
                "rir_error_mean_baseline"):
        assert {key, f"{key}_std", f"{key}_sem"} <= set(summary), key
    assert summary["n_clips"] == 2 and [r["clip_id"] for r in rows] == test.clip_ids
    assert all(0.0 <= r["coherence_accuracy"] <= 1.0 for r in rows)
    assert set(preds) == {"c000", "rir_envelopes.json"}
    assert preds["c000"].shape == (2, int(SECONDS * SR))
    env = preds["rir_envelopes.json"]["clips"]["c000"]
    assert np.asarray(env["mean"]).max() == pytest.approx(-20.0)
    flipped, flipped_rows, _ = task.evaluate(model, CFG, test, "flipped", progress=False)
    assert flipped["stft_distance"] != pytest.approx(summary["stft_distance"])
    mono, _, mono_preds = task.evaluate(None, CFG, test, "mono_mono", progress=False)
    assert set(mono) == {"n_clips", "stft_distance", "stft_distance_std", "stft_distance_sem",
                         "env_distance", "env_distance_std", "env_distance_sem"}
    np.testing.assert_array_equal(mono_preds["c000"][0], mono_preds["c000"][1])
    with pytest.raises(ValueError, match="unknown binaural baseline 'silence'"):
        task.evaluate(None, CFG, test, "silence", progress=False)
    with pytest.raises(ValueError, match="unknown binaural variant or control 'mirrored'"):
        task.evaluate(model, CFG, test, "mirrored", progress=False)


def test_audio_only_ignores_the_frames(caches):
    _, test = caches
    task = BinauralTask()
    model = _perturbed(task, "audio_only")
    true = test.audio_float(0)
    a = task.binauralize(model, CFG, true, test.frames(0), SR, FPS, mode="blank")["audio"]
    b = task.binauralize(model, CFG, true, 255 - test.frames(1), SR, FPS, mode="blank")["audio"]
    np.testing.assert_array_equal(a, b)
    cfg = copy.deepcopy(CFG)
    cfg["eval"]["fusion_output"] = "nonsense"
    with pytest.raises(ValueError, match="fusion_output"):
        task.binauralize(_perturbed(task, "fusion"), cfg, true, test.frames(0), SR, FPS)
