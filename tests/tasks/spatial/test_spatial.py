"""The spatial task: objectives, FOA front end, data geometry, and an end-to-end run on tiny data."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from avrepro.audio.ambisonics import encode, rotate_toward
from avrepro.tasks.spatial.data import view_rotations
from avrepro.tasks.spatial.losses import avc_loss, avsa_loss, joint_contrast
from avrepro.tasks.spatial.model import LogMel, SpatialModel, rotate_foa
from avrepro.video.viewpoints import Viewpoint

TINY_SPATIAL = {
    "dataset": "synthetic_foa",
    "features": {"sample_rate": 16000, "frame_width": 64, "frame_height": 32},
    "audio": {"window_seconds": 0.5, "n_fft": 256, "hop": 256, "n_mels": 16, "top_db": 100,
              "features": "logmel_iv"},
    "frames": {"n_frames": 1, "crop_size": 16, "flip": True, "jitter": [0.8, 1.2]},
    "viewpoints": {"count": 3, "yaw_deg": [-180.0, 180.0], "pitch_deg": [-20.0, 20.0],
                   "hfov_deg": [40.0, 90.0], "aspect": [0.75, 1.3333], "min_separation_deg": 30.0},
    "model": {"width": 4, "video_stages": 2, "audio_stages": 2, "embed_dim": 16, "proj_dim": 8,
              "temperature": 0.07, "transformer": {"depth": 1, "heads": 2, "expansion": 2, "dropout": 0.1}},
    "objectives": {"avc": "avc", "avsa": "avsa", "avsa_curriculum": "avsa"},
    "init_from": {"avsa_curriculum": "avc"},
    "train": {"epochs": 1, "batch_size": 4, "samples_per_clip": 1, "lr": 1e-3, "weight_decay": 1e-5,
              "lr_decay": 1.0, "lr_decay_every": 100, "checkpoint_every": 100, "num_workers": 0,
              "threads": 1, "amp": "none", "gpus": 1, "channels_last": False, "compile": False,
              "log_every": 10},
    "eval": {"needs_train": True, "seed": 0, "repeats": 2, "train_repeats": 1, "use_transformer": True,
             "head": {"hidden": 16, "dropout": 0.5, "lr": 1e-3, "weight_decay": 0.0, "epochs": 2,
                      "batch_size": 16},
             "probe": {"train_windows": 1, "test_windows": 1, "lr": 1e-2, "weight_decay": 1e-3, "epochs": 20},
             "alignment": {"viewpoints": 6, "fov_deg": 60.0}, "save_predictions": 2},
    "variants": ["avc", "avsa", "avsa_curriculum"],
    "baselines": ["chance", "random_backbone"],
}


# ---------------------------------------------------------------------------------------------
# objectives


def _onehot(b: int, k: int, dim: int) -> torch.Tensor:
    return torch.eye(dim)[: b * k].view(b, k, dim)


def test_avc_loss_matches_own_audio_and_ignores_same_clip_views():
    v = _onehot(4, 2, 8)
    out = avc_loss(v, v.clone(), 0.07)
    assert out["acc_avc"] == 1 and out["loss"] < 1e-3
    assert set(out) == {"loss", "loss_v2a", "loss_a2v", "acc_avc"}
    shuffled = avc_loss(v, v[torch.tensor([1, 2, 3, 0])], 0.07)
    assert shuffled["acc_avc"] == 0 and shuffled["loss"] > 5
    # both views of a clip carry the same audio: AVC must not be penalised for that
    a = v.clone()
    a[:, 1] = a[:, 0]
    vv = v.clone()
    vv[:, 1] = vv[:, 0]
    assert avc_loss(vv, a, 0.07)["loss"] < 1e-3


def test_avsa_contrast_uses_hard_negatives_from_the_same_clip():
    b, k = 3, 4
    pred = _onehot(b, k, 16)
    loss, acc_avc, acc_avsa = joint_contrast(pred, pred.clone(), 0.07)
    assert loss < 1e-3 and acc_avc == 1 and acc_avsa == 1
    # views of a clip indistinguishable: hard negatives tie with the positive -> loss ~ log K
    same = pred[:, :1].expand(b, k, 16).clone()
    loss, acc_avc, _ = joint_contrast(same, same.clone(), 0.07)
    assert loss == pytest.approx(math.log(k), abs=1e-3) and acc_avc == 1
    # a wrong view assignment within the clip is caught
    swapped = pred[:, [1, 0, 2, 3]]
    loss, _, acc_avsa = joint_contrast(pred, swapped, 0.07)
    assert acc_avsa == pytest.approx(0.5) and loss > 1
    out = avsa_loss({"v_pred": pred, "v_trg": pred, "a_pred": pred, "a_trg": swapped}, 0.07)
    assert set(out) == {"loss", "loss_v2a", "loss_a2v", "acc_avc", "acc_avsa"}
    assert out["loss_a2v"] < 1e-3 < out["loss_v2a"]


# ---------------------------------------------------------------------------------------------
# FOA front end and geometry


def test_view_rotations_bring_each_viewpoint_to_the_front():
    s = np.random.default_rng(0).standard_normal(4000)
    vps = [Viewpoint(120.0, 15.0, 60, 60), Viewpoint(-45.0, -10.0, 60, 60)]
    rot = view_rotations(vps)
    for vp, r in zip(vps, rot):
        src = encode(s, vp.yaw_deg, vp.pitch_deg)
        turned = rotate_foa(torch.from_numpy(src).float()[None], torch.from_numpy(r)[None, None])[0, 0].numpy()
        np.testing.assert_allclose(turned, encode(s, 0.0, 0.0), atol=1e-4)
    # a yaw offset (AVSA-Bin negatives) turns the source away from the front
    turned = view_rotations(vps[:1], yaw_offset_deg=90.0)[0] @ np.array([1.0, 0, 0])
    assert abs(turned[0]) < 0.99


def test_logmel_of_rotations_equals_logmel_of_rotated_waveforms_and_iv_has_sign():
    lm = LogMel(16000, 256, 128, 16, 100, "logmel_iv")
    x = np.random.default_rng(1).standard_normal((4, 4000)).astype(np.float32)
    vps = [Viewpoint(30.0, 10.0, 60, 60), Viewpoint(-100.0, 0.0, 60, 60)]
    fast = lm(torch.from_numpy(x)[None], torch.from_numpy(view_rotations(vps))[None])[0]
    slow = torch.stack([lm(torch.from_numpy(rotate_toward(x, vp.yaw_deg, vp.pitch_deg).astype(np.float32))[None])[0]
                        for vp in vps])
    assert fast.shape == (2, 7, 32, 16)
    torch.testing.assert_close(fast, slow, atol=1e-4, rtol=1e-4)
    s = np.random.default_rng(2).standard_normal(4000)
    front = lm(torch.from_numpy(encode(s, 0.0)).float()[None])[0]
    back = lm(torch.from_numpy(encode(s, 180.0)).float()[None])[0]
    torch.testing.assert_close(front[:4], back[:4])  # magnitudes cannot tell front from back
    assert front[4].mean() > 0.99 and back[4].mean() < -0.99  # the intensity can
    with pytest.raises(ValueError, match="logmel"):
        LogMel(16000, 256, 128, 16, 100, "mfcc")


def test_models_and_curriculum_init():
    cfg = copy.deepcopy(TINY_SPATIAL)
    torch.manual_seed(0)
    crops, foa = torch.rand(2, 3, 1, 3, 16, 16), torch.randn(2, 4, 8000) * 0.1
    rot = torch.eye(3).expand(2, 3, 3, 3)
    avc, avsa = SpatialModel(cfg, "avc"), SpatialModel(cfg, "avsa")
    assert {k: tuple(v.shape) for k, v in avc(crops, foa, rot).items()} == {"v": (2, 3, 8), "a": (2, 3, 8)}
    out = avsa(crops, foa, rot)
    assert set(out) == {"v_pred", "v_trg", "a_pred", "a_trg"} and out["a_pred"].shape == (2, 3, 8)
    from avrepro.tasks.spatial.task import SpatialTask

    task = SpatialTask()
    head_before = avsa.audio_head.weight.clone()
    task.init_from(avsa, avc.state_dict())
    for key, value in avc.state_dict().items():
        if key.startswith(("video.", "audio.")):
            torch.testing.assert_close(avsa.state_dict()[key], value)
    torch.testing.assert_close(avsa.audio_head.weight, head_before)
    with pytest.raises(ValueError, match="trunk"):
        task.init_from(avsa, {"video_proj.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="objective"):
        SpatialModel(cfg, "sync")


# ---------------------------------------------------------------------------------------------
# end to end on a tiny generated dataset


@pytest.fixture(scope="module")
def tiny_caches(tmp_path_factory):
    from avrepro.data.cache import build_cache
    from avrepro.data.synthetic import generate
    from avrepro.data.verify import verify_dataset

    root = tmp_path_factory.mktemp("spatial")
    syn = {"n_rooms": 6, "clips_per_room": 1, "clip_seconds": 1.0, "sample_rate": 16000, "fps": 10,
           "frame_width": 64, "frame_height": 32, "sources": {"min": 1, "max": 2},
           "classes": ["violin", "cello", "flute", "trumpet", "piano", "xylophone"],
           "room": {"width": [4.0, 8.0], "depth": [5.0, 9.0], "height": [2.5, 3.5], "absorption": [0.5, 0.9]},
           "max_image_order": 2, "rir_seconds": 0.1, "hfov_deg": 90.0, "sprite_scale": 2.0,
           "solo": {"per_class": 0, "seconds": 1.0},
           "view360": {"enabled": True, "frame_width": 64, "frame_height": 32, "extra_sources": {"min": 1, "max": 1}}}
    generate(syn, root / "raw", seed=1, progress=False)
    verify_dataset(root / "raw", "synthetic_foa", {"min_seconds": 0.5, "strict": True, "channels": 4,
                                                   "audio_dir": "foa", "video_dir": "video360"},
                   root / "manifest.csv", root / "issues.csv", progress=False)
    ids = json.loads((root / "raw" / "dataset.json").read_text())["clips"]
    caches = {}
    for split, part in (("train", ids[:4]), ("val", ids[4:5]), ("test", ids[4:])):
        (root / f"{split}.txt").write_text("\n".join(part) + "\n")
        build_cache(root / "manifest.csv", root / "raw", root / f"{split}.txt", root / "cache" / split,
                    {"sample_rate": 16000, "frame_width": 64, "frame_height": 32}, progress=False)
        from avrepro.data.cache import FeatureCache
        caches[split] = FeatureCache(root / "cache" / split)
    return root, caches


def test_train_evaluate_figures_report_end_to_end(tiny_caches, tmp_path):
    from avrepro.engine.evaluate import evaluate
    from avrepro.engine.train import train
    from avrepro.tasks import get_task
    from avrepro.tasks.spatial.figures import make_figures

    root, caches = tiny_caches
    cfg = copy.deepcopy(TINY_SPATIAL)
    task = get_task("spatial")
    tcfg = {k: v for k, v in cfg.items() if k not in ("eval", "variants", "baselines", "init_from")}
    ecfg = {k: v for k, v in cfg.items() if k != "train"}
    item = task.datasets(tcfg, caches["train"], caches["val"], "avsa", 0)[0][0]
    assert item["crops"].shape == (3, 1, 3, 16, 16) and item["foa"].shape == (4, 8000)
    assert item["rot"].shape == (3, 3, 3)
    models, metrics, preds = tmp_path / "models", tmp_path / "metrics", tmp_path / "pred"
    for v in cfg["variants"]:
        run = copy.deepcopy(tcfg)
        if v in cfg["init_from"]:
            run["train"]["init"] = str(models / cfg["init_from"][v] / "best.pt")
        train(task, run, v, caches["train"], caches["val"], models / v, seed=0, progress=False)
        evaluate("spatial", ecfg, v, caches["test"], models / v / "best.pt", metrics / f"spatial_{v}.json",
                 metrics / f"spatial_{v}_clips.csv", preds / v, progress=False, train_cache=caches["train"])
    for b in cfg["baselines"]:
        evaluate("spatial", ecfg, b, caches["test"], None, metrics / f"spatial_{b}.json",
                 metrics / f"spatial_{b}_clips.csv", None, progress=False, train_cache=caches["train"])
    for name in cfg["variants"] + cfg["baselines"]:
        summary = json.loads((metrics / f"spatial_{name}.json").read_text())
        assert summary["n_clips"] == 2
        for key in ("avc_accuracy", "avsa_accuracy", "probe_accuracy"):
            assert 0 <= summary[key] <= 1 and f"{key}_sem" in summary and f"{key}_std" in summary
    chance = json.loads((metrics / "spatial_chance.json").read_text())
    assert chance["avc_accuracy"] == 0.5 and chance["alignment_top1"] == pytest.approx(1 / 6)
    assert sorted(p.name for p in (preds / "avsa").iterdir())[:2] == ["alignment_000005.json", "alignment_000005.npy"]
    again = tmp_path / "again.json"
    evaluate("spatial", ecfg, "avsa", caches["test"], models / "avsa" / "best.pt", again, tmp_path / "c.csv",
             None, progress=False, train_cache=caches["train"])
    first = json.loads((metrics / "spatial_avsa.json").read_text())
    assert json.loads(again.read_text()) == first  # deterministic
    with pytest.raises(ValueError, match="needs_train"):
        task.evaluate(None, ecfg, caches["test"], "random_backbone", progress=False)

    figs = make_figures(ecfg, caches["test"], models, metrics, preds, tmp_path / "figures")
    names = {p.name for p in figs}
    assert {"loss_curves.png", "accuracy.png", "alignment_summary.png"} <= names
    assert all(p.stat().st_size > 1000 for p in figs)

    from avrepro.report.kit import ReportContext
    from avrepro.tasks.spatial.report import spatial_section

    (tmp_path / "tables").mkdir()
    ctx = ReportContext(cfg={"spatial": ecfg}, out_md=tmp_path / "report.md", metric_dir=metrics,
                        figure_dir=tmp_path / "figures", table_dir=tmp_path / "tables")
    (tmp_path / "figures" / "spatial").mkdir()
    md = spatial_section(ctx)
    assert "AVC-Bin" in md and "random backbone" in md and (tmp_path / "tables" / "spatial_metrics.md").is_file()
