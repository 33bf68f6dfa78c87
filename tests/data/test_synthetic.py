"""Synthetic scene generator: determinism, layout, and the physics the tasks rely on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import fftconvolve

from avrepro.data.synthetic import generate, generate_clip, instruments, room
from avrepro.data.synthetic.generate import GENERATOR_VERSION
from avrepro.data.synthetic.scene import Camera, Room, Scene, Source, direction
from avrepro.media import read_mp4_frames
from helpers.configs import smoke_config
from helpers.synthetic import generate_fresh
from helpers.treediff import assert_same_trees, files

# the smoke profile's generator, smaller: 4 clips of 1 s, 64 x 32 frames, no solo clips, no 360 view
TINY = smoke_config(
    {
        "synthetic": {
            "n_rooms": 2,
            "clips_per_room": 2,
            "clip_seconds": 1.0,
            "frame_width": 64,
            "frame_height": 32,
            "room": {"absorption": [0.2, 0.7]},
            "max_image_order": 3,
            "rir_seconds": 0.1,
            "sprite_scale": 1.0,
            "solo": {"per_class": 0},
            "view360": {"enabled": False},
        }
    }
)["synthetic"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("syn") / "a"
    generate_fresh(TINY, out, seed=3)
    return out


def test_same_seed_same_bytes_any_workers(tiny, tmp_path):
    # one process (started clean) against a pool of two inside the pytest process, whose memory
    # holds the other tests' leftovers: x264 once made mp4s that depended on it (media.x264_params)
    generate(TINY, tmp_path / "b", seed=3, progress=False, workers=2)
    assert_same_trees(tiny, tmp_path / "b")
    a = files(tiny)
    generate(TINY, tmp_path / "c", seed=4, progress=False)
    c = files(tmp_path / "c")
    assert c["binaural_audios/000001.wav"] != a["binaural_audios/000001.wav"]
    assert c["videos/000001.mp4"] != a["videos/000001.mp4"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_layout_and_meta(tiny):
    ds = json.loads((tiny / "dataset.json").read_text())
    assert ds["name"] == "synthetic" and ds["generator_version"] == GENERATOR_VERSION and ds["seed"] == 3
    assert ds["config"] == TINY and ds["clips"] == ["000001", "000002", "000003", "000004"]
    for i, cid in enumerate(ds["clips"]):
        meta = json.loads((tiny / "meta" / f"{cid}.json").read_text())
        assert meta["clip_id"] == cid and meta["group"] == f"room_{i // 2:04d}"
        w, h = meta["frame_size"]
        assert (w, h) == (64, 32) and meta["n_frames"] == 10 and meta["sample_rate"] == 16000
        frames, fps = read_mp4_frames(tiny / f"videos/{cid}.mp4")
        assert frames.shape == (10, 32, 64, 3) and fps == 10
        audio, rate = sf.read(tiny / f"binaural_audios/{cid}.wav", dtype="float32", always_2d=True)
        assert rate == 16000 and audio.shape == (16000, 2)
        assert sf.info(tiny / f"binaural_audios/{cid}.wav").subtype == "PCM_16"
        assert 0.1 < np.abs(audio).max() <= 0.91
        k = len(meta["sources"])
        assert 1 <= k <= 2 and len({s["class"] for s in meta["sources"]}) == k
        rir, _ = sf.read(tiny / meta["rir"], dtype="float32", always_2d=True)
        assert rir.shape == (1600, 2 * k) and sf.info(tiny / meta["rir"]).subtype == "FLOAT"
        rw, rd, rh = meta["room"]["dims"]
        mix = np.zeros((2, 16000))
        for j, s in enumerate(meta["sources"]):
            stem, _ = sf.read(tiny / s["stem"], dtype="float32")
            pair = rir.T[2 * j : 2 * j + 2].astype(float)
            mix += fftconvolve(stem[None].astype(float), pair, axes=-1)[:, :16000]
            assert stem.shape == (16000,) and np.abs(stem).max() > 0.01
            assert TINY["classes"][s["class_index"]] == s["class"]
            assert 0 < s["position"][0] < rw and 0 < s["position"][1] < rd and 0 < s["position"][2] < rh
            assert abs(s["azimuth_deg"]) <= 0.8 * 45 + 1e-3 and s["distance_m"] >= 1.5
            assert len(s["boxes"]) == meta["n_frames"]
            for x0, y0, x1, y1 in s["boxes"]:
                assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        # binaural = sum of stems convolved with their RIRs (which hold the microphone's low cut),
        # plus the recording's noise floor at the drawn SNR below the mix
        lo, hi = TINY["performance"]["mic_highpass_hz"]
        assert lo <= meta["recording"]["mic_highpass_hz"] <= hi
        noise = audio.T - mix
        snr = 20 * np.log10(np.sqrt(np.mean(mix**2)) / np.sqrt(np.mean(noise**2)))
        assert snr == pytest.approx(meta["recording"]["noise_snr_db"], abs=0.5)
        # the room's noise is recorded through the same low cut: little of it below half the cutoff
        power = np.abs(np.fft.rfft(noise, axis=-1)) ** 2
        f = np.fft.rfftfreq(noise.shape[-1], 1 / meta["sample_rate"])
        cut = meta["recording"]["mic_highpass_hz"]
        assert power[:, (f > 0) & (f < cut / 2)].sum() < 0.2 * power[:, (f >= cut) & (f < 2 * cut)].sum()
    # clips of one group share the room
    metas = [json.loads((tiny / "meta" / f"{c}.json").read_text()) for c in ds["clips"]]
    fixed = ("dims", "absorption", "rt60_sabine", "max_order")
    assert all(metas[0]["room"][k] == metas[1]["room"][k] for k in fixed)
    assert metas[0]["room"]["dims"] != metas[2]["room"]["dims"]


def test_sprites_visible_and_animated():
    cfg = dict(TINY, frame_width=128, frame_height=64, clip_seconds=2.0, sources={"min": 2, "max": 2})
    clip = generate_clip(cfg, seed=1, room_index=0, clip_index=0)
    assert clip.frames.shape == (20, 64, 128, 3)
    for s in clip.meta["sources"]:
        diffs = []
        for frame, (x0, y0, x1, y1) in zip(clip.frames, s["boxes"], strict=True):
            patch = frame[y0:y1, x0:x1].astype(float)
            diffs.append(np.abs(patch - clip.background[y0:y1, x0:x1]).mean())
        assert min(diffs) > 8.0, s["class"]
    # the envelope animates the sprites: some frame differs from the first one inside a box
    x0, y0, x1, y1 = clip.meta["sources"][0]["boxes"][0]
    assert (
        max(np.abs(f[y0:y1, x0:x1].astype(int) - clip.frames[0][y0:y1, x0:x1]).max() for f in clip.frames)
        > 30
    )


def _one_source_binaural(az_deg: float, name: str, absorption: float = 0.5):
    dims = (6.0, 8.0, 3.0)
    listener = (3.0, 0.8, 1.5)
    dist = 3.0
    az = np.radians(az_deg)
    pos = (listener[0] - dist * np.sin(az), listener[1] + dist * np.cos(az), 1.5)
    inst = instruments.instrument(name)
    scene = Scene(
        Room(dims, absorption), Camera(listener, 90.0, 128, 64), (Source(name, 0, inst.program, pos),)
    )
    stem, _ = instruments.render_phrase(np.random.default_rng(0), name, 1.0, 16000)
    rirs = room.binaural_rirs(dims, absorption, listener, [pos], 16000, 6, 4000)
    return scene, room.render_binaural(stem[None].astype(np.float64), rirs)


def _gcc_phat_lag(x: np.ndarray, max_lag: int = 20, floor: float = 1e-4) -> int:
    """Lag (samples) by which channel 1 trails channel 0 (GCC-PHAT over the bins whose cross
    spectrum is at least ``floor`` of its peak: whitening the empty bins of a tonal signal would
    let their numerical noise pick the lag)."""
    n = 2 * x.shape[1]
    spec = np.fft.rfft(x[0], n) * np.conj(np.fft.rfft(x[1], n))
    mag = np.abs(spec)
    cc = np.fft.irfft(np.where(mag >= floor * mag.max(), spec / (mag + 1e-12), 0.0), n)
    cc = np.concatenate([cc[-max_lag:], cc[: max_lag + 1]])
    return -(int(np.argmax(cc)) - max_lag)


@pytest.mark.parametrize("name", ["trumpet", "xylophone"])
@pytest.mark.parametrize("az", [35.0, -35.0])
def test_itd_ild_follow_the_drawn_position(az, name):
    scene, x = _one_source_binaural(az, name)
    (u, _), _ = scene.camera.project(scene.sources[0].position)
    left_in_image = u < scene.camera.width / 2
    assert left_in_image == (az > 0)  # drawn left of centre <=> positive azimuth
    assert direction(scene.listener, scene.sources[0].position)[0] == pytest.approx(az)
    near, far = (0, 1) if left_in_image else (1, 0)
    rms = np.sqrt((x**2).mean(axis=1))
    assert 20 * np.log10(rms[near] / rms[far]) > 2.0  # louder at the near ear
    lag = _gcc_phat_lag(x[[near, far]])
    assert 3 <= lag <= 7  # far ear trails by ~0.3 ms (Woodworth at 35 degrees: 4.8 samples at 16 kHz)


def test_bigger_harder_room_reverberates_longer():
    def measured(dims, absorption):
        rt = room.sabine_rt60(dims, absorption)
        order = room.image_order(dims, rt, 10)
        listener = (dims[0] / 2, 0.8, 1.5)
        source = (dims[0] / 2 - 0.5, 3.5, 1.4)
        rirs = room.binaural_rirs(dims, absorption, listener, [source], 16000, order, 8000)
        return rt, room.rt60(rirs, 16000)

    sab_big, big = measured((10.0, 12.0, 4.0), 0.2)
    sab_small, small = measured((4.0, 5.0, 2.5), 0.7)
    assert sab_big > 5 * sab_small
    assert big > 2 * small and small > 0.03


def test_rt60_of_exponential_decay():
    fs, t60 = 16000, 0.4
    t = np.arange(int(0.8 * fs)) / fs
    h = np.random.default_rng(0).standard_normal(len(t)) * 10 ** (-3 * t / t60)
    assert room.rt60(h, fs) == pytest.approx(t60, rel=0.05)


@pytest.mark.parametrize("name", TINY["classes"])
def test_instrument_phrase_is_a_real_instrument(name):
    rng = np.random.default_rng(7)
    audio, notes = instruments.render_phrase(rng, name, 2.0, 16000)
    assert audio.shape == (32000,) and audio.dtype == np.float32
    assert np.sqrt(np.mean(audio**2)) > 1e-3  # not silent
    assert len(notes) >= 2 and 0.05 <= notes[0].start <= 0.5  # several notes, random lead-in
    assert np.abs(audio[: int(0.04 * 16000)]).max() < 1e-3
    assert abs(audio.mean()) < 0.01 * np.sqrt(np.mean(audio**2))  # no DC
    assert _spectral_peaks(audio) >= 3  # harmonics and several notes, not a sine
    t = np.arange(32000) / 16000
    assert _spectral_peaks(np.sin(2 * np.pi * 440 * t) * (t > 0.1)) == 1  # the check's control


def _spectral_peaks(audio: np.ndarray) -> int:
    """Number of prominent peaks (20 dB prominence, within 40 dB of the maximum) in the spectrum."""
    from scipy.signal import find_peaks

    db = 10 * np.log10(np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2 + 1e-20)
    peaks, _ = find_peaks(db, height=db.max() - 40, prominence=20, distance=20)
    return len(peaks)


def test_unknown_class_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown instrument class 'banjo'"):
        generate(dict(TINY, classes=["banjo"]), tmp_path / "x", seed=0, progress=False)
    assert not (tmp_path / "x").exists()


def test_solo_clips_music_layout(tmp_path):
    """Solo clips: one source of each class per clip, mono audio, its box on every frame; the
    same seed gives the same bytes and the scenes are unchanged by asking for solos."""
    cfg = {
        **TINY,
        "n_rooms": 1,
        "clips_per_room": 1,
        "solo": {"per_class": 1, "seconds": 1.0},
        "classes": ["violin", "trumpet"],
    }
    generate_fresh(cfg, tmp_path / "a", seed=3)
    solo = tmp_path / "a" / "solo"
    listing = json.loads((solo / "dataset.json").read_text())
    assert listing["clips"] == ["solo_violin_0001", "solo_trumpet_0001"]
    for cid, name in zip(listing["clips"], cfg["classes"], strict=True):
        meta = json.loads((solo / "meta" / f"{cid}.json").read_text())
        assert meta["label"] == name and meta["group"] == cid and len(meta["sources"]) == 1
        audio, rate = sf.read(solo / meta["audio"], always_2d=True)
        assert audio.shape == (16000, 1) and rate == 16000 and np.abs(audio).max() > 0.05
        frames, _ = read_mp4_frames(solo / meta["video"])
        boxes = meta["sources"][0]["boxes"]
        assert len(boxes) == frames.shape[0] == 10
        x0, y0, x1, y1 = boxes[0]
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 32
    generate_fresh(cfg, tmp_path / "b", seed=3, workers=2)
    assert_same_trees(tmp_path / "a", tmp_path / "b")
    generate_fresh({**cfg, "solo": {"per_class": 0, "seconds": 1.0}}, tmp_path / "c", seed=3)
    scenes = {
        k: v for k, v in files(tmp_path / "a").items() if not k.startswith("solo/") and k != "dataset.json"
    }  # (its config lists solo)
    assert scenes == {k: v for k, v in files(tmp_path / "c").items() if k != "dataset.json"}


def _f0_cents(audio: np.ndarray, fs: int, note) -> np.ndarray:
    """The pitch of ``note`` inside ``audio``, every 10 ms from 0.35 s after its onset, in cents
    from its written pitch (spectral peak within +-10 %, zero-padded 60-ms frames)."""
    f0 = 440 * 2 ** ((note.pitch - 69) / 12)
    seg = audio[int((note.start + 0.35) * fs) : int((note.start + note.duration - 0.05) * fs)]
    win, hop = int(0.06 * fs), int(0.01 * fs)
    f = np.fft.rfftfreq(1 << 16, 1 / fs)
    band = (f > 0.9 * f0) & (f < 1.1 * f0)
    track = [
        f[band][np.argmax(np.abs(np.fft.rfft(seg[i : i + win] * np.hanning(win), 1 << 16))[band])]
        for i in range(0, len(seg) - win, hop)
    ]
    return 1200 * np.log2(np.array(track) / f0)


def test_expressive_violin_has_vibrato_and_plain_one_does_not():
    perf = smoke_config()["synthetic"]["performance"]
    fs = 16000
    played, notes = instruments.render_phrase(np.random.default_rng(0), "violin", 3.0, fs, None, 40, perf)
    note = max(notes, key=lambda n: n.duration)
    assert note.duration > 0.6
    cents = _f0_cents(played, fs, note)
    spectrum = np.abs(np.fft.rfft(cents - cents.mean(), 4096))
    rate = np.fft.rfftfreq(4096, 0.01)[1 + np.argmax(spectrum[1:])]
    lo, hi = perf["vibrato_hz"]
    assert lo - 0.5 <= rate <= hi + 0.5 and np.ptp(cents) > 30  # periodic, tens of cents
    # the soundfont's own sample wavers by a few cents; the vibrato is several times that
    plain, notes = instruments.render_phrase(np.random.default_rng(0), "violin", 3.0, fs)
    assert np.std(cents) > 3 * np.std(_f0_cents(plain, fs, max(notes, key=lambda n: n.duration)))


def test_performance_plays_chords_programs_and_timing():
    perf = smoke_config()["synthetic"]["performance"]
    rng = np.random.default_rng(2)
    written = instruments.draw_phrase(rng, "acoustic_guitar", 4.0)
    played, controls = instruments.perform(rng, "acoustic_guitar", written, 4.0, perf)
    fifths = [
        n for n in played if any(m.pitch == n.pitch - 7 and 0.014 < n.start - m.start < 0.016 for m in played)
    ]
    assert fifths and len(played) > len(written)  # strummed fifths above some notes
    shifts = [
        p.start - w.start for p, w in zip([n for n in played if n not in fifths], written, strict=False)
    ]
    assert 0.003 < np.std(shifts) < 0.03  # onsets off the score by ~timing_ms
    assert {kind for _, kind, _ in controls} == {"expression"}  # no vibrato on a struck class
    programs = {instruments.draw_program(np.random.default_rng(i), "piano", perf) for i in range(20)}
    assert programs == set(perf["programs"]["piano"])
    clean = dict(perf, expressive=False)
    assert (
        instruments.draw_program(np.random.default_rng(0), "piano", clean)
        == instruments.instrument("piano").program
    )
