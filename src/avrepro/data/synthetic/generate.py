"""Generate the synthetic audio-visual dataset (FAIR-Play-like layout, plus stems, RIRs, meta).

Layout under ``out_dir``::

    dataset.json                    name, generator_version, config, seed, clip ids
    videos/<id>.mp4                 H.264, no audio
    binaural_audios/<id>.wav        16-bit stereo, row 0 = left
    stems/<id>_s<k>.wav             dry mono per source, same gain as the mix
    rirs/<id>.wav                   float32, channels [L, R] of source 0, then source 1, ...
    meta/<id>.json                  room, listener, camera, gain, sources with per-frame boxes
    foa/<id>.wav                    16-bit 4-channel ambiX (W, Y, Z, X; SN3D) of the 360 scene
    video360/<id>.mp4               equirectangular video of the 360 scene (see render_360; both
                                    only with ``view360.enabled``; meta["view360"] describes them)
    solo/                           solo clips in the MUSIC layout (one source each, ``solo.per_class``
                                    per class): dataset.json, videos/<id>.mp4, audios/<id>.wav
                                    (mono = mean of the ears), meta/<id>.json (``label`` = class)

Audio levels: each dry stem is scaled to RMS 0.1 times a random level (+-3 dB), the mix is
sum_k stem_k * rir_k, and one clip gain (``meta["gain"]``) brings the mix's peak to 0.9 (or
less where a dry stem would otherwise exceed 0.9); stems and mix are stored with that gain, so
``binaural == sum_k fftconvolve(stem_k, rir_k)[:n]`` up to 16-bit rounding and the recording's
room noise (``meta["recording"]``: pink, ``noise_snr_db`` below the mix's RMS, through the same
microphone low cut that the RIRs include).

Every random draw comes from ``np.random.default_rng([seed, room, clip, ...])``, so the same
config and seed give byte-identical files, in any order and with any number of workers.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from avrepro.data.synthetic import instruments
from avrepro.data.synthetic import room as room_mod
from avrepro.data.synthetic.recording import draw_recording, microphone, with_noise_floor
from avrepro.data.synthetic.render_360 import View360, render_view360, write_view360
from avrepro.data.synthetic.render_video import SUPERSAMPLE, render_background, render_frames
from avrepro.data.synthetic.scene import Camera, Room, Scene, direction, draw_room, draw_scene
from avrepro.data.synthetic.stems import dry_stem
from avrepro.io import atomic_dir, write_json

GENERATOR_VERSION = 3
PEAK = 0.9  # peak of each clip's binaural mix (unless a stem would clip, see _mix)
SOLO_DIR = "solo"  # solo clips (MUSIC layout) live in <dataset>/solo
SOLO_ROOM_BASE = 1_000_000  # solo clips' rooms: seeds apart from the scenes' room indices
SOLO_ROOM_STRIDE = 100_000


@dataclass
class Clip:
    """Everything of one generated clip, in memory."""

    clip_id: str
    scene: Scene
    meta: dict
    binaural: np.ndarray  # (2, n) float32
    stems: np.ndarray  # (k, n) float32, already scaled by meta["gain"]
    rirs: np.ndarray  # (k, 2, m) float32
    frames: np.ndarray  # (T, H, W, 3) uint8
    background: np.ndarray  # (H, W, 3) uint8, the empty room
    view360: View360 | None = None  # FOA + equirect video (synthetic.view360.enabled)


def clip_id(index: int) -> str:
    """Zero-padded id of the clip with 0-based global ``index``: 0 -> "000001"."""
    return f"{index + 1:06d}"


def rounded(obj, digits: int = 6):
    """Round floats to ``digits`` significant digits (NaN/Inf -> None), recursively, for stable JSON."""
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(f"{float(obj):.{digits}g}") if math.isfinite(obj) else None
    return obj


@dataclass
class _Mix:
    """A clip's spatialised audio: binaural mix and stems (both scaled by ``gain``), RIRs."""

    binaural: np.ndarray  # (2, n) float32
    stems: np.ndarray  # (k, n) float32
    rirs: np.ndarray  # (k, 2, m) float64
    gain: float
    rt60_sabine: float
    order: int  # image-source order
    recording: dict | None  # microphone low cut and noise floor (recording.draw_recording)


def _dry_stems(
    cfg: dict, seed: int, room_index: int, clip_index: int, scene: Scene, cid: str
) -> tuple[np.ndarray, list, list[float]]:
    """Each source's dry stem (k, n) float64 (random streams ``[seed, room, clip, 1, k]``),
    phrase notes and level in dB."""
    stems, notes, levels = [], [], []
    for k, src in enumerate(scene.sources):
        rng = np.random.default_rng([seed, room_index, clip_index, 1, k])
        stem, phrase, level_db = dry_stem(
            rng,
            src.name,
            cfg["clip_seconds"],
            int(cfg["sample_rate"]),
            cid,
            note_beats=cfg.get("note_beats"),
            program=src.program,
            performance=cfg.get("performance"),
        )
        stems.append(stem)
        notes.append(phrase)
        levels.append(level_db)
    return np.stack(stems).astype(np.float64), notes, levels


def _mix(cfg: dict, room: Room, scene: Scene, stems: np.ndarray, rng: np.random.Generator) -> _Mix:
    """Binaural RIRs of every source (through the microphone's low cut) and the mix, brought to
    :data:`PEAK` by one clip gain, then the noise floor (``rng``: the recording's draws)."""
    fs = int(cfg["sample_rate"])
    rt60_sabine = room_mod.sabine_rt60(room.dims, room.absorption)
    order = room_mod.image_order(room.dims, rt60_sabine, int(cfg["max_image_order"]))
    m = int(round(cfg["rir_seconds"] * fs))
    recording = draw_recording(rng, cfg.get("performance"))
    rirs = room_mod.binaural_rirs(
        room.dims, room.absorption, scene.listener, [s.position for s in scene.sources], fs, order, m
    )
    rirs = microphone(rirs, fs, recording)
    binaural = room_mod.render_binaural(stems, rirs)
    # fixed peak for the mix; a far source can make its dry stem louder than the mix, and the
    # stems share the gain, so the gain is capped to keep every file within PEAK
    gain = PEAK / max(np.abs(binaural).max(), np.abs(stems).max())
    return _Mix(
        with_noise_floor(rng, binaural * gain, fs, recording).astype(np.float32),
        (stems * gain).astype(np.float32),
        rirs,
        gain,
        rt60_sabine,
        order,
        recording,
    )


def _sources_meta(scene: Scene, cid: str, levels: list[float], notes: list, boxes) -> list[dict]:
    """Meta of each source: class, position and direction, level, onsets, stem file, boxes."""
    sources_meta = []
    for k, src in enumerate(scene.sources):
        az, el, dist = direction(scene.listener, src.position)
        sources_meta.append(
            {
                "class": src.name,
                "class_index": src.class_index,
                "program": src.program,
                "position": list(src.position),
                "azimuth_deg": az,
                "elevation_deg": el,
                "distance_m": dist,
                "size_m": list(src.size_m),
                "level_db": levels[k],
                "onsets_s": sorted({nt.start for nt in notes[k]}),
                "stem": f"stems/{cid}_s{k}.wav",
                "boxes": boxes[k],
            }
        )
    return sources_meta


def _camera_meta(cam: Camera) -> dict:
    return {
        "position": list(cam.position),
        "forward": [0.0, 1.0, 0.0],
        "up": [0.0, 0.0, 1.0],
        "hfov_deg": cam.hfov_deg,
        "vfov_deg": cam.vfov_deg,
        "focal_px": cam.focal,
        "principal_point": [cam.width / 2, cam.height / 2],
    }


def _clip_meta(
    cfg: dict,
    cid: str,
    seed: int,
    room_index: int,
    clip_index: int,
    scene: Scene,
    mix: _Mix,
    sources: list[dict],
) -> dict:
    """The clip's meta JSON (before :func:`rounded`); paths relative to the dataset root."""
    fs, fps = int(cfg["sample_rate"]), int(cfg["fps"])
    n = int(round(cfg["clip_seconds"] * fs))
    room, cam = scene.room, scene.camera
    return {
        "clip_id": cid,
        "group": f"room_{room_index:04d}",
        "seed": seed,
        "room_index": room_index,
        "clip_index": clip_index,
        "sample_rate": fs,
        "fps": fps,
        "duration_s": n / fs,
        "n_samples": n,
        "n_frames": int(round(cfg["clip_seconds"] * fps)),
        "frame_size": [cam.width, cam.height],
        "room": {
            "dims": list(room.dims),
            "absorption": room.absorption,
            "rt60_sabine": mix.rt60_sabine,
            "rt60_measured": room_mod.rt60(mix.rirs, fs),
            "max_order": mix.order,
        },
        "listener": {"position": list(scene.listener)},
        "camera": _camera_meta(cam),
        "gain": mix.gain,
        "recording": mix.recording,
        "video": f"videos/{cid}.mp4",
        "binaural": f"binaural_audios/{cid}.wav",
        "rir": f"rirs/{cid}.wav",
        "rir_layout": "channels [L, R] per source in source order",
        "rir_reference_distance_m": room_mod.REFERENCE_DISTANCE_M,
        "sources": sources,
    }


def generate_clip(
    cfg: dict,
    seed: int,
    room_index: int,
    clip_index: int,
    solo_class: int | None = None,
    cid: str | None = None,
) -> Clip:
    """Draw, render and spatialise one clip of room ``room_index``.

    Args:
        cfg: the resolved ``synthetic`` section of params.yaml.
        solo_class: draw exactly one source of this class index (a solo clip).
        cid: the clip id (default: from the room and clip index, see :func:`clip_id`).
    Returns:
        the clip's arrays and its meta dict (paths relative to the dataset root).
    """
    fs, fps = int(cfg["sample_rate"]), int(cfg["fps"])
    n_frames = int(round(cfg["clip_seconds"] * fps))
    cid = cid or clip_id(room_index * int(cfg["clips_per_room"]) + clip_index)
    room = draw_room(np.random.default_rng([seed, room_index]), cfg)
    scene = draw_scene(
        np.random.default_rng([seed, room_index, clip_index, 0]), room, cfg, solo_class=solo_class
    )
    stems, notes, levels = _dry_stems(cfg, seed, room_index, clip_index, scene, cid)
    mix = _mix(cfg, room, scene, stems, np.random.default_rng([seed, room_index, clip_index, 4]))
    bg = render_background(scene, SUPERSAMPLE)
    frames, boxes = render_frames(scene, mix.stems, fs, fps, n_frames, background=bg)
    background = np.asarray(Image.fromarray(bg).reduce(SUPERSAMPLE))
    sources = _sources_meta(scene, cid, levels, notes, boxes)
    meta = rounded(_clip_meta(cfg, cid, seed, room_index, clip_index, scene, mix, sources))
    view360 = None
    if solo_class is None and (cfg.get("view360") or {}).get("enabled", False):
        view360 = render_view360(
            cfg, seed, room_index, clip_index, scene, mix.stems, mix.gain, mix.order, cid, mix.recording
        )
        meta["view360"] = rounded(view360.meta)
    return Clip(
        cid, scene, meta, mix.binaural, mix.stems, mix.rirs.astype(np.float32), frames, background, view360
    )


def write_clip(clip: Clip, root: str | Path) -> None:
    """Write one clip's files under the dataset root ``root``."""
    from avrepro.media import write_mp4, write_wav

    root = Path(root)
    fs, fps = clip.meta["sample_rate"], clip.meta["fps"]
    write_mp4(root / clip.meta["video"], clip.frames, fps)
    write_wav(root / clip.meta["binaural"], clip.binaural, fs)
    for stem, src in zip(clip.stems, clip.meta["sources"], strict=True):
        write_wav(root / src["stem"], stem, fs)
    write_wav(root / clip.meta["rir"], clip.rirs.reshape(-1, clip.rirs.shape[-1]), fs, subtype="FLOAT")
    if clip.view360 is not None:
        write_view360(clip.view360, root, fs, fps)
    write_json(root / "meta" / f"{clip.clip_id}.json", clip.meta)


def solo_id(name: str, k: int) -> str:
    """Id of the ``k``-th (0-based) solo clip of class ``name``: ``solo_violin_0001``."""
    return f"solo_{name}_{k + 1:04d}"


def generate_solo_clip(cfg: dict, seed: int, class_index: int, k: int) -> Clip:
    """The ``k``-th solo clip of class ``class_index``: its own room, one source, the same
    renderer; ``cfg["solo"]["seconds"]`` long. Its mono audio is the mean of the two ears."""
    name = cfg["classes"][class_index]
    solo = cfg["solo"]
    solo_cfg = {
        **cfg,
        "clip_seconds": float(solo["seconds"]),
        "distance_m": solo.get("distance_m"),
        "hfov_deg": float(solo.get("hfov_deg", cfg["hfov_deg"])),
    }
    room_index = SOLO_ROOM_BASE + class_index * SOLO_ROOM_STRIDE + k
    return generate_clip(solo_cfg, seed, room_index, 0, solo_class=class_index, cid=solo_id(name, k))


def write_solo_clip(clip: Clip, root: str | Path) -> None:
    """Write a solo clip in the MUSIC layout under ``root`` (``<dataset>/solo``): ``videos/<id>.mp4``,
    ``audios/<id>.wav`` (mono, 16-bit) and ``meta/<id>.json`` (``label`` = the class, the source's
    per-frame boxes, its dry stem's gain)."""
    from avrepro.media import write_mp4, write_wav

    root = Path(root)
    cid, meta = clip.clip_id, dict(clip.meta)
    label = meta["sources"][0]["class"]
    meta.update(
        {
            "label": label,
            "group": cid,
            "video": f"videos/{cid}.mp4",
            "audio": f"audios/{cid}.wav",
            "layout": "music_solo",
        }
    )
    for key in ("binaural", "rir", "rir_layout", "rir_reference_distance_m"):
        meta.pop(key, None)
    meta["sources"] = [{k: v for k, v in src.items() if k != "stem"} for src in meta["sources"]]
    write_mp4(root / meta["video"], clip.frames, meta["fps"])
    write_wav(root / meta["audio"], clip.binaural.mean(axis=0), meta["sample_rate"])
    write_json(root / "meta" / f"{cid}.json", meta)


def _make(args) -> str:
    cfg, seed, room_index, clip_index, root = args
    clip = generate_clip(cfg, seed, room_index, clip_index)
    write_clip(clip, root)
    return clip.clip_id


def _make_solo(args) -> str:
    cfg, seed, class_index, k, root = args
    clip = generate_solo_clip(cfg, seed, class_index, k)
    write_solo_clip(clip, Path(root) / SOLO_DIR)
    return clip.clip_id


def generate(cfg: dict, out_dir: str | Path, seed: int, progress: bool = True, workers: int = 1) -> None:
    """Generate the whole dataset into ``out_dir`` atomically (built next to it, then renamed).

    Args:
        cfg: the resolved ``synthetic`` section of params.yaml.
        out_dir: dataset root (replaced if it exists).
        seed: global seed.
        progress: show a tqdm bar over clips on stderr.
        workers: processes (the output is the same for any number).
    """
    from tqdm import tqdm

    for name in cfg["classes"]:
        instruments.instrument(name)  # fail early on an unknown class
    jobs = [(r, c) for r in range(int(cfg["n_rooms"])) for c in range(int(cfg["clips_per_room"]))]
    per_class = int((cfg.get("solo") or {}).get("per_class", 0))
    solo_jobs = [(ci, k) for k in range(per_class) for ci in range(len(cfg["classes"]))]
    with atomic_dir(out_dir) as tmp:
        tasks = [(_make, (cfg, int(seed), r, c, str(tmp))) for r, c in jobs]
        tasks += [(_make_solo, (cfg, int(seed), ci, k, str(tmp))) for ci, k in solo_jobs]
        bar = tqdm(total=len(tasks), desc="synthetic", unit="clip", file=sys.stderr, disable=not progress)
        ids = []
        if workers > 1:  # spawned processes (a script calling this needs a __main__ guard)
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                for cid in pool.map(_run, tasks, chunksize=4):
                    ids.append(cid)
                    bar.update()
        else:
            for task in tasks:
                ids.append(_run(task))
                bar.update()
        bar.close()
        scene_ids, solo_ids = ids[: len(jobs)], ids[len(jobs) :]
        write_json(
            tmp / "dataset.json",
            {
                "name": "synthetic",
                "generator_version": GENERATOR_VERSION,
                "config": cfg,
                "seed": int(seed),
                "clips": scene_ids,
            },
        )
        if solo_ids:
            write_json(
                tmp / SOLO_DIR / "dataset.json",
                {
                    "name": "synthetic_solo",
                    "generator_version": GENERATOR_VERSION,
                    "config": cfg,
                    "seed": int(seed),
                    "clips": solo_ids,
                },
            )


def _run(task) -> str:
    func, args = task
    return func(args)
