"""First-order ambisonics, the 360 renderer and perspective viewpoints agree on directions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from avrepro.audio import ambisonics as amb
from avrepro.data.synthetic import room as room_mod
from avrepro.data.synthetic.render_360 import (
    pixel_of,
    render_background_360,
    render_frames_360,
    render_view360,
    sprite_box_360,
)
from avrepro.data.synthetic.scene import Camera, Room, Scene, Source, direction
from avrepro.media import read_mp4_frames, read_wav
from avrepro.video.viewpoints import Viewpoint, crop_directions, perspective_crops, sample_viewpoints
from helpers.configs import smoke_config
from helpers.synthetic import generate_fresh
from helpers.treediff import assert_same_trees, files

W, Y, Z, X = range(4)


def test_sn3d_gains_and_left_source():
    g = amb.sn3d_gains(90.0, 0.0)  # left
    np.testing.assert_allclose(g, [1, 1, 0, 0], atol=1e-12)
    for az, el in [(30, 10), (-120, -20), (180, 45), (0, 0)]:
        gw, gy, gz, gx = amb.sn3d_gains(az, el)
        a, e = math.radians(az), math.radians(el)
        assert gy == pytest.approx(math.sin(a) * math.cos(e)) and gz == pytest.approx(math.sin(e))
        assert gx == pytest.approx(math.cos(a) * math.cos(e)) and gw == 1
        assert gx**2 + gy**2 + gz**2 == pytest.approx(gw**2)  # SN3D plane wave
    s = np.random.default_rng(0).standard_normal(100)
    foa = amb.encode(s, 90.0)
    np.testing.assert_allclose(foa[Y], s)  # left: Y = +W
    np.testing.assert_allclose(amb.encode(s, -90.0)[Y], -s)  # right: Y = -W
    np.testing.assert_allclose(foa[X], 0, atol=1e-12)


def test_yaw_rotation_moves_sources():
    s = np.random.default_rng(1).standard_normal(64)
    front = amb.encode(s, 0.0)
    np.testing.assert_allclose(amb.rotate(front, 90.0), amb.encode(s, 90.0), atol=1e-9)
    np.testing.assert_allclose(amb.rotate(amb.encode(s, 30, 10), -75.0), amb.encode(s, -45, 10), atol=1e-9)
    # rotating toward a source brings it to the front; W never changes
    src = amb.encode(s, 120.0, 20.0)
    np.testing.assert_allclose(amb.rotate_toward(src, 120.0, 20.0), front, atol=1e-9)
    np.testing.assert_allclose(amb.rotate(src, 77.0, -13.0)[W], s)
    with pytest.raises(ValueError, match="4 channels"):
        amb.rotate(np.zeros((2, 10)), 10.0)


def test_foa_rir_direct_path_direction_delay_and_gain():
    fs, listener = 16000, (2.0, 1.0, 1.5)
    left = np.array([[0.0], [1.0], [1.5]])  # 2 m to the left (x smaller), same height
    rir = amb.foa_rir(left, np.array([1.0]), listener, fs, 400, reference_distance=1.0)
    delay = 2.0 / amb.SPEED_OF_SOUND * fs
    peak = int(np.argmax(rir[W]))
    assert abs(peak - delay) <= 1
    np.testing.assert_allclose(rir[Y], rir[W], atol=1e-7)  # +90 deg: Y = W
    np.testing.assert_allclose(rir[[Z, X]], 0, atol=1e-7)
    assert rir[W].sum() == pytest.approx(0.5, rel=1e-6)  # gain = damping * ref / distance


def test_foa_of_generated_clip_matches_scene_direction():
    """A clip's FOA from the generator: one source at +90 deg (left), direct path only."""
    rng = np.random.default_rng(0)
    cfg = smoke_config(
        {
            "synthetic": {
                "sample_rate": 8000,
                "fps": 5,
                "clip_seconds": 0.8,
                "rir_seconds": 0.05,
                "classes": ["violin"],
                "sprite_scale": 1.0,
                "view360": {"frame_width": 64, "frame_height": 32, "extra_sources": {"min": 0, "max": 0}},
            }
        }
    )["synthetic"]
    cam = Camera((3.0, 1.0, 1.5), 90.0, 64, 32)
    scene = Scene(Room((6.0, 6.0, 3.0), 0.5), cam, (Source("violin", 0, 40, (1.0, 1.0, 1.5)),))
    stems = rng.standard_normal((1, 6400)) * 0.1
    view = render_view360(cfg, 0, 0, 0, scene, stems, gain=1.0, order=0, cid="x")
    foa = view.foa.astype(np.float64)
    assert foa.shape == (4, 6400) and abs(np.abs(foa).max() - 0.9) < 1e-6
    np.testing.assert_allclose(foa[Y], foa[W], atol=1e-6)
    assert np.abs(foa[X]).max() < 1e-6 and np.abs(foa[Z]).max() < 1e-6
    src = view.meta["sources"][0]
    assert src["azimuth_deg"] == pytest.approx(90.0) and src["in_pinhole_view"]
    x0, _, x1, _ = src["boxes"][0]
    assert x0 < 64 / 4 < x1  # left = a quarter of the width from the left edge


def test_equirect_pixel_convention():
    u, v = pixel_of([0.0, 90.0, -90.0, 180.0], [0.0, 0.0, 0.0, 0.0], 360, 180)
    np.testing.assert_allclose(u, [180, 90, 270, 0])
    np.testing.assert_allclose(v, 90)
    assert float(pixel_of(0.0, 90.0, 360, 180)[1]) == 0.0


def _scene(pos, name="trumpet"):
    cam = Camera((3.0, 1.0, 1.5), 90.0, 64, 32)
    return Scene(Room((6.0, 8.0, 3.0), 0.8), cam, (Source(name, 0, 56, pos, (0.6, 0.3)),))


def test_360_renderer_draws_sprite_at_its_azimuth():
    width, height = 128, 64
    for pos, az_expected in [((1.0, 1.0, 1.5), 90.0), ((3.0, 4.0, 1.5), 0.0), ((4.5, 1.0, 1.5), -90.0)]:
        scene = _scene(pos)
        az, el, _ = direction(scene.listener, pos)
        assert az == pytest.approx(az_expected) and el == pytest.approx(0.0)
        stems = np.ones((1, 800)) * 0.1
        bg = render_background_360(scene, width, height, 1)
        frames, boxes = render_frames_360(scene, stems, 1000, 5, 4, width, height, background=bg)
        assert frames.shape == (4, height, width, 3)
        x0, y0, x1, y1 = boxes[0][0]
        u_expected = (0.5 - az_expected / 360.0) * width
        assert x0 < u_expected < x1 and y0 < height / 2 < y1
        # the sprite changed the pixels around its column, not those on the opposite side
        plain, _ = render_frames_360(
            Scene(scene.room, scene.camera, ()), np.zeros((0, 800)), 1000, 5, 1, width, height, background=bg
        )
        diff = np.abs(frames[0].astype(int) - plain[0].astype(int)).sum(-1)
        cols = np.nonzero(diff[height // 2] > 30)[0]
        assert len(cols) and np.all(np.abs((cols + 0.5) - u_expected) < (x1 - x0))


def test_sprite_box_wraps_across_seam():
    scene = _scene((3.0, 0.2, 1.5))  # behind the listener: azimuth 180
    x0, y0, x1, y1 = sprite_box_360(scene.listener, (3.0, -1.0, 1.5), (0.6, 0.3), 100, 50)
    assert 0 <= x0 < 100 < x1


def test_viewpoint_crop_sees_what_the_equirect_shows():
    width, height = 180, 90
    frame = np.zeros((height, width, 3), np.uint8)
    u = int((0.5 - 60 / 360) * width)  # a red column at azimuth +60 deg (left of front)
    frame[:, u - 2 : u + 3, 0] = 255
    crops = perspective_crops(
        frame, [Viewpoint(60.0, 0.0, 40.0, 40.0), Viewpoint(-60.0, 0.0, 40.0, 40.0)], (16, 16)
    )
    assert crops.shape == (2, 1, 3, 16, 16)
    red = crops[:, 0, 0].mean(1)  # (2, w) column profile
    assert red[0, 6:10].max() > 0.5 and red[0, :3].max() < 0.05 and red[1].max() < 0.05
    az, el = crop_directions(Viewpoint(60.0, 10.0, 40.0, 30.0), (17, 17))
    assert az[8, 8] == pytest.approx(60.0) and el[8, 8] == pytest.approx(10.0)
    assert az[8, 0] > 60 > az[8, -1]  # left of the crop = larger azimuth
    assert el[0, 8] > 10 > el[-1, 8]
    # crossing the seam: a view looking backward samples both edges without a gap
    grey = np.full((height, width, 3), 200, np.uint8)
    back = perspective_crops(grey, [Viewpoint(180.0, 0, 60, 60)], (8, 8))
    assert torch.allclose(back, torch.full_like(back, 200 / 255), atol=1e-5)


def test_sample_viewpoints_respects_ranges_and_separation():
    vps = sample_viewpoints(
        np.random.default_rng(0), 4, (-180, 180), (-30, 30), (25, 90), (0.75, 4 / 3), 36.0
    )
    assert len(vps) == 4
    for i, vp in enumerate(vps):
        assert -180 <= vp.yaw_deg <= 180 and -30 <= vp.pitch_deg <= 30 and 25 <= vp.hfov_deg <= 90
        assert 0.75 - 1e-9 <= vp.vfov_deg / vp.hfov_deg <= 4 / 3 + 1e-9
        from avrepro.video.viewpoints import angular_distance

        assert all(angular_distance(vp, o) >= 36.0 for o in vps[:i])


def test_image_source_foa_of_dead_room_passes_energy_identity():
    """Direct path alone: E_xyz = E_w exactly; a room adds (measured, not assumed) deviation."""
    from avrepro.data.curation import foa_energies

    fs, listener, src = 16000, (3.0, 0.8, 1.5), (2.0, 3.5, 1.2)
    noise = np.random.default_rng(2).standard_normal(16000)
    for order in (0, 3):
        imgs = room_mod.image_sources((6.0, 8.0, 3.0), 0.9, listener, [src], fs, order)
        pos, damp, _ = imgs[0]
        rir = amb.foa_rir(pos, damp, listener, fs, 2000, room_mod.REFERENCE_DISTANCE_M)
        foa = np.stack([np.convolve(noise, r)[:16000] for r in rir])
        e_w, e_xyz = foa_energies(foa, fs, 4000)
        assert e_xyz / e_w == pytest.approx(1.0, abs=1e-6 if order == 0 else 0.1)


def test_view360_leaves_binaural_files_unchanged_and_is_deterministic(tmp_path):
    """The 360 view adds foa/ and video360/ (same bytes for any number of workers) and changes
    nothing of the binaural dataset but meta["view360"]."""
    cfg = smoke_config(
        {
            "synthetic": {
                "n_rooms": 2,
                "clip_seconds": 0.8,
                "fps": 5,
                "frame_width": 64,
                "frame_height": 32,
                "classes": ["violin", "cello", "flute", "trumpet"],
                "room": {
                    "width": [4.0, 8.0],
                    "depth": [5.0, 9.0],
                    "height": [2.5, 3.5],
                    "absorption": [0.5, 0.9],
                },
                "max_image_order": 2,
                "rir_seconds": 0.05,
                "solo": {"per_class": 0},
                "view360": {"frame_width": 64, "frame_height": 32, "extra_sources": {"min": 1, "max": 1}},
            }
        }
    )["synthetic"]
    off = {**cfg, "view360": {**cfg["view360"], "enabled": False}}

    for name, c, workers in (("on", cfg, 1), ("on2", cfg, 2), ("off", off, 1)):
        generate_fresh(c, tmp_path / name, seed=5, workers=workers)
    assert_same_trees(tmp_path / "on", tmp_path / "on2")
    on, plain = files(tmp_path / "on"), files(tmp_path / "off")
    assert {k for k in on if k.startswith(("foa/", "video360/"))} == {
        "foa/000001.wav",
        "foa/000002.wav",
        "video360/000001.mp4",
        "video360/000002.mp4",
    }
    for name, data in plain.items():
        if name.startswith("meta/"):
            meta_on = json.loads(on[name])
            assert meta_on.pop("view360")["n_extra_sources"] == 1
            assert meta_on == json.loads(data)
        elif name != "dataset.json":
            assert on[name] == data, name
    meta = json.loads(on["meta/000001.json"])["view360"]
    foa, rate = read_wav(tmp_path / "on" / meta["foa"])
    frames, fps = read_mp4_frames(tmp_path / "on" / meta["video"])
    assert foa.shape == (4, 12800) and rate == 16000 and frames.shape == (4, 32, 64, 3) and fps == 5
    pinhole = [s for s in meta["sources"] if s["in_pinhole_view"]]
    extra = [s for s in meta["sources"] if not s["in_pinhole_view"]]
    assert len(extra) == 1 and abs(extra[0]["azimuth_deg"]) > 45  # outside the 90-degree camera
    assert len({s["class"] for s in meta["sources"]}) == len(meta["sources"])
    binaural_meta = json.loads(on["meta/000001.json"])["sources"]
    assert [s["azimuth_deg"] for s in pinhole] == [s["azimuth_deg"] for s in binaural_meta]
