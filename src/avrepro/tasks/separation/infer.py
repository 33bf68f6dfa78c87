"""``avrepro separate``: a trained PixelPlayer on a user's videos.

The sound is cut into the model's windows (``audio.window`` samples), end to end, one of them
centred on the clip (:func:`tile_starts`); each window's output is put back in place, so any
length works. Two videos are also scored as the evaluation scores a test mixture (the centred
``eval.window`` samples, :func:`evaluation_scores`), so two clips of the test split give the
evaluation's numbers for their pair.

- Two videos (mix and separate, how the paper demonstrates it): their sounds, each / 2, are
  mixed and separated with each video's frames through the evaluation's own functions
  (:func:`~.evaluate.chunk_at`, :func:`~.evaluate.model_masker`, :func:`~.spectral.apply_masks`);
  BSS Eval (:mod:`avrepro.metrics.separation`) scores each estimate against its video's sound.
- One video (pixel-level sound): regions are boxes, or the positions of the feature map grouped
  by k-means on what their own (pixel-level) masks take of the sound (:func:`auto_regions`). A
  region's mask is the synthesizer on one visual vector: by default (``masked``) that of the
  frames with every pixel outside the region blanked, pooled as the model pools a video, so the
  region is separated as if it were its own video (:func:`masked_region_vectors`); or
  (``pooled``, the paper's pixel-level form) the whole frame's features pooled over the region's
  positions (:func:`region_vectors`). Either way a region that covers the frame gives the model's
  own mask.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from avrepro.data.cache import to_int16
from avrepro.data.media_clips import MediaClip, MediaClips, decode_clip
from avrepro.media import MediaError, write_wav
from avrepro.metrics.separation import bss_eval, is_silent, mixture_scores, one_blas_thread
from avrepro.tasks.separation import spectral
from avrepro.tasks.separation.evaluate import at_test_length, chunk_at, chunk_frames, model_masker, read_chunk
from avrepro.tasks.separation.soundmap import sound_map_video
from avrepro.video.crop import crop_hw

EVAL_DEFAULTS = {"mask_threshold": 0.5, "batch_size": 16}
"""The ``eval`` settings the verb reads, where the model's params file gives none."""
CLAIM_POOL = 8
"""``--regions auto`` compares positions by their masks averaged over blocks of this many bins x
STFT frames (a few hundred numbers per window and position)."""
FOREGROUND = 0.05
"""``--regions auto`` groups the positions whose sound share is at least this part of the largest
(the others claim next to nothing of the sound: background); a low bar, so that a quiet player
is not left out."""
SPATIAL_WEIGHT = 1.0
"""``--regions auto`` clusters each position's claims together with its place in the frame (x, y
in frame fractions over :data:`UNIFORM_STD`), scaled so that at this weight the place spreads
as much as the claims do: regions come out contiguous. Measured on 8 two-player test videos
(benchmarks/separation_regions.py): per-region SDR 4.39 dB at 1.0 (0.75: 4.48; 0.5: 0.67; 1.5:
2.34; without: -0.21), against 4.40 dB for fixed halves."""
UNIFORM_STD = 12**-0.5
"""The standard deviation of a coordinate spread evenly over [0, 1]."""


def with_eval_defaults(cfg: dict) -> dict:
    """``cfg`` with :data:`EVAL_DEFAULTS` under the ``eval`` settings it has."""
    return {**cfg, "eval": {**EVAL_DEFAULTS, **(cfg.get("eval") or {})}}


# -- decoding ----------------------------------------------------------------------------------


def _mono(clip: MediaClip) -> MediaClip:
    """The clip with its channels averaged (a mono clip as is)."""
    if clip.audio.shape[0] == 1:
        return clip
    mono = clip.audio.astype(np.float32).mean(axis=0, keepdims=True) / 32767.0
    return dataclasses.replace(clip, audio=to_int16(mono))


def load_clips(videos: list, audios: list | None, cfg: dict) -> MediaClips:
    """The videos decoded as the feature cache stores clips (mono, at ``features``' rate and
    frame size), each with its track or its wav from ``audios``, cut to the shortest sound.

    Raises:
        MediaError: an unusable file, a sound shorter than one window, different frame rates.
    """
    if audios is not None and len(audios) != len(videos):
        raise MediaError(
            ", ".join(map(str, audios)), f"--audio takes one wav per video ({len(videos)}), got {len(audios)}"
        )
    feats, window = cfg["features"], cfg["audio"]["window"]
    rate, size = feats["sample_rate"], (feats["frame_width"], feats["frame_height"])
    clips = [
        _mono(decode_clip(v, rate, size, audio=a))
        for v, a in zip(videos, audios or [None] * len(videos), strict=True)
    ]
    for clip in clips:
        if clip.audio.shape[1] < window:
            raise MediaError(
                clip.audio_path,
                f"the sound lasts {clip.audio.shape[1] / rate:.2f} s, shorter than one window of the "
                f"model ({window / rate:.2f} s)",
            )
    n = min(c.audio.shape[1] for c in clips)
    clips = MediaClips([dataclasses.replace(c, audio=c.audio[:, :n]) for c in clips], rate)
    _ = clips.fps  # raises when the videos' frame rates differ
    return clips


def tile_starts(n: int, window: int) -> list[int]:
    """Starts of the windows that cover ``n`` samples end to end, one of them the centre window
    (start ``max(0, (n - window) // 2)``, as the evaluation reads a clip); the first may start
    before the clip (zeros)."""
    centre = max(0, (n - window) // 2)
    before, after = -(-centre // window), -(-(n - centre) // window)
    return [centre + k * window for k in range(-before, after)]


def stitch(pieces: list[np.ndarray], starts: list[int], n: int) -> np.ndarray:
    """Windows ``(..., window)`` (in ``starts`` order, batches concatenated) put back in place,
    cut to the ``n`` samples of the clip."""
    whole = np.concatenate([np.concatenate(list(p), axis=-1) for p in pieces], axis=-1)
    return whole[..., -starts[0] : -starts[0] + n]


def _batches(starts: list[int], cfg: dict, desc: str, progress: bool):
    """``(first, starts)`` of each batch of ``eval.batch_size`` windows, with a progress bar."""
    size = cfg["eval"]["batch_size"]
    for b0 in tqdm(range(0, len(starts), size), desc=desc, unit="batch", disable=not progress):
        yield b0, starts[b0 : b0 + size]


# -- two videos: mix and separate ---------------------------------------------------------------


def separate_pair(model, cfg: dict, clips: MediaClips, progress: bool = True) -> dict:
    """Mix the clips' sounds (each / N) and separate them with each clip's frames, window by
    window as the evaluation: ``sources``, ``estimates`` ``(N, n)``, ``mixture`` ``(n,)``, sound
    ``maps`` ``(windows, N, h, w)``, ``starts`` and the BSS Eval scores of the evaluation's test
    mixture (``test_mixture``, :func:`evaluation_scores`)."""
    acfg, window = cfg["audio"], cfg["audio"]["window"]
    n = clips.audio(0).shape[1]
    starts = tile_starts(n, window)
    combo = tuple(range(len(clips)))
    masker = model_masker(model, model.mask_kind, cfg, clips)
    got = {"sources": [], "estimates": [], "mixture": [], "maps": []}
    for b0, batch in _batches(starts, cfg, "separate", progress):
        chunk = chunk_at(clips, [combo] * len(batch), [[s] * len(combo) for s in batch], b0, cfg)
        masks, maps = masker(chunk)
        got["estimates"].append(spectral.apply_masks(masks.cpu(), chunk.mix_spec, acfg, window).numpy())
        got["mixture"].append(spectral.waveform(chunk.mix_spec, acfg, window).numpy())
        got["sources"].append(chunk.sources.numpy())
        got["maps"].append(maps)
    out = {k: stitch(v, starts, n) for k, v in got.items() if k != "maps"}
    out["test_mixture"] = evaluation_scores(cfg, clips, masker)
    return {**out, "maps": np.concatenate(got["maps"]), "starts": starts}


def evaluation_scores(cfg: dict, clips: MediaClips, masker) -> dict | None:
    """BSS Eval of the clips mixed and separated as the evaluation reads a test mixture: each
    clip's centred ``eval.window`` samples (:func:`~.evaluate.at_test_length`; zeros past a shorter
    clip), the net window by window; ``None`` when a source or an estimate is silent."""
    tcfg = at_test_length(cfg)
    acfg = tcfg["audio"]
    chunk = read_chunk(clips, [tuple(range(len(clips)))], 0, tcfg)
    masks, _ = masker(chunk)
    estimates = spectral.apply_masks(masks.cpu(), chunk.mix_spec, acfg, acfg["window"]).numpy()
    mixture = spectral.waveform(chunk.mix_spec, acfg, acfg["window"]).numpy()
    with one_blas_thread():
        return mixture_scores(chunk.sources.numpy()[0], estimates[0], mixture[0])


def clip_scores(sources: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict:
    """BSS Eval of the whole clip: per source ``sdr``, ``sir``, ``sar`` and their means, and the
    mixture's ``sdr_mixture``; NaN when a source or an estimate is silent (as the evaluation
    skips such a mixture)."""
    n = len(sources)
    if any(is_silent(x) for x in (*sources, *estimates)):
        nan = [float("nan")] * n
        return {"sdr": nan, "sir": nan, "sar": nan, "sdr_mixture": float("nan")}
    with one_blas_thread():  # as the evaluation's BSS Eval: small solves, a shared machine
        sdr, sir, sar = bss_eval(sources, estimates)
        sdr_mix, _, _ = bss_eval(sources, np.repeat(mixture[None], n, axis=0))
    return {
        "sdr": sdr.tolist(),
        "sir": sir.tolist(),
        "sar": sar.tolist(),
        "sdr_mixture": float(sdr_mix.mean()),
    }


def source_names(clips: MediaClips) -> list[str]:
    """A file name stem per clip: its video's name, numbered when two names are the same."""
    stems = [c.video_path.stem for c in clips.clips]
    return stems if len(set(stems)) == len(stems) else [f"{s}_{k + 1}" for k, s in enumerate(stems)]


def write_pair(result: dict, clips: MediaClips, cfg: dict, out: Path, prefix: str = "") -> dict:
    """Write ``<prefix>mixture.wav``, ``<prefix><name>_separated.wav`` per clip and the
    side-by-side ``<prefix>sound_map.mp4`` (with the mixture's sound); their file names as
    ``{"mixture", "separated": [...], "sound_map"}``."""
    out.mkdir(parents=True, exist_ok=True)
    rate = clips.sample_rate
    files = {
        "mixture": f"{prefix}mixture.wav",
        "separated": [f"{prefix}{name}_separated.wav" for name in source_names(clips)],
        "sound_map": f"{prefix}sound_map.mp4",
    }
    write_wav(out / files["mixture"], result["mixture"], rate)
    for name, estimate in zip(files["separated"], result["estimates"], strict=True):
        write_wav(out / name, estimate, rate)
    timing = _timing(clips, cfg, result["starts"])
    videos = [c.video_path for c in clips.clips]
    sound_map_video(out / files["sound_map"], videos, result["maps"], timing, result["mixture"])
    return files


def _timing(clips: MediaClips, cfg: dict, starts: list[int]) -> dict:
    return {
        "fps": clips.fps,
        "rate": clips.sample_rate,
        "starts": starts,
        "window": cfg["audio"]["window"],
        "samples": int(clips.audio(0).shape[1]),
    }


def pair_summary(model, cfg: dict, clips: MediaClips, out: Path, progress: bool) -> dict:
    """The two-video form: separate, write, score (whole clip per source, and the test mixture
    as the evaluation scores it)."""
    result = separate_pair(model, cfg, clips, progress)
    files = write_pair(result, clips, cfg, out)
    scores = clip_scores(result["sources"], result["estimates"], result["mixture"])
    sources = [
        {
            "video": str(c.video_path),
            "wav": str(out / wav),
            **{k: scores[k][n] for k in ("sdr", "sir", "sar")},
        }
        for n, (c, wav) in enumerate(zip(clips.clips, files["separated"], strict=True))
    ]
    return {
        "form": "two videos, mixed and separated",
        "seconds": clips.audio(0).shape[1] / clips.sample_rate,
        "windows": len(result["starts"]),
        "sources": sources,
        **{k: float(np.mean(scores[k])) for k in ("sdr", "sir", "sar")},
        "sdr_mixture": scores["sdr_mixture"],
        "test_mixture": result["test_mixture"],
        "test_mixture_seconds": at_test_length(cfg)["audio"]["window"] / clips.sample_rate,
        "mixture": str(out / files["mixture"]),
        "sound_map": str(out / files["sound_map"]),
    }


# -- one video: pixel-level sound by region -------------------------------------------------


def parse_regions(text: str) -> list[tuple[float, ...]] | None:
    """``auto`` -> None; ``x,y,w,h;...`` (fractions of the frame) -> the boxes.

    Raises:
        ValueError: a box is not four numbers or leaves the frame.
    """
    if text.strip() == "auto":
        return None
    boxes = []
    for part in (p for p in text.split(";") if p.strip()):
        try:
            box = tuple(float(v) for v in part.split(","))
        except ValueError:
            box = ()
        if len(box) != 4:
            raise ValueError(f"--regions: {part!r} is not a box x,y,w,h (fractions of the frame)")
        x, y, w, h = box
        if min(x, y) < 0 or w <= 0 or h <= 0 or x + w > 1 + 1e-6 or y + h > 1 + 1e-6:
            raise ValueError(
                f"--regions: box {part!r} leaves the frame (x, y >= 0, w, h > 0, x + w, y + h <= 1)"
            )
        boxes.append(box)
    if not boxes:
        raise ValueError("--regions: give 'auto' or at least one box x,y,w,h")
    return boxes


def cells_in_boxes(boxes: list[tuple[float, ...]], size_hw: tuple[int, int]) -> np.ndarray:
    """``(R, h, w)`` masks of the cells of an ``h x w`` grid (feature-map positions or pixels)
    whose centres lie in each box ``x, y, w, h`` (fractions of the frame)."""
    h, w = size_hw
    cy, cx = (np.arange(h)[:, None] + 0.5) / h, (np.arange(w)[None] + 0.5) / w
    return np.stack([(cx >= x) & (cx <= x + bw) & (cy >= y) & (cy <= y + bh) for x, y, bw, bh in boxes])


def box_regions(boxes: list[tuple[float, ...]], grid: tuple[int, int]) -> np.ndarray:
    """``(R, h, w)`` masks of the feature-map positions whose centres lie in each box (the
    position under the box's centre when none does)."""
    h, w = grid
    out = cells_in_boxes(boxes, grid)
    for k, (x, y, bw, bh) in enumerate(boxes):
        if not out[k].any():
            out[k, min(int((y + bh / 2) * h), h - 1), min(int((x + bw / 2) * w), w - 1)] = True
    return out


def _pooled_frames(model, maps: torch.Tensor) -> torch.Tensor:
    """Frame features ``(b, N, K, count, h, w)`` pooled over the frames as the model pools."""
    return maps.amax(dim=3) if model.pool == "max" else maps.mean(dim=3)


def position_claims(model, feats: torch.Tensor, sound: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    """What each position's own mask takes of the mixture: its soft mask times the mixture's
    magnitude (a share of the window's), averaged over blocks of :data:`CLAIM_POOL` bins x frames.
    Shape: feats ``(b, K, h, w)``, sound ``(b, K, F, T)``, mag ``(b, 1, F, T)`` -> ``(b, h*w, D)``."""
    weight = mag / mag.sum(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    out = []
    for i in range(len(feats)):  # one window at a time: (P, F, T) masks
        pixel = feats[i : i + 1].flatten(2).transpose(1, 2)[:, None]  # (1, 1, P, K)
        masks = torch.sigmoid(model.synthesizer(pixel, sound[i : i + 1]))[:, 0]
        out.append(F.avg_pool2d(masks * weight[i : i + 1], CLAIM_POOL, ceil_mode=True).flatten(2))
    return torch.cat(out)


def pixel_pass(model, cfg: dict, clips: MediaClips, starts: list[int], progress: bool) -> dict:
    """Per window of the clip: frame ``features`` ``(windows, K, h, w)`` (pooled over its
    frames), each position's sound share ``energy`` ``(windows, h, w)`` and ``claims``
    ``(windows, h*w, D)`` (:func:`position_claims`), and the window's mixture ``weight`` (its
    summed magnitude)."""
    device = next(model.parameters()).device
    got = {"features": [], "energy": [], "claims": [], "weight": []}
    for b0, batch in _batches(starts, cfg, "separate: sound maps", progress):
        chunk = chunk_at(clips, [(0,)] * len(batch), [[s] for s in batch], b0, cfg)
        prep = spectral.prepare(chunk.sources.to(device), cfg["audio"])
        frames = chunk_frames(clips, chunk, crop_hw(cfg["frames"])).to(device)
        feats = _pooled_frames(model, model.frame_maps(frames))
        sound = model.sound(prep["log_mag"])
        energy = model.pixel_energy(feats, sound, prep["mag_mix"])
        claims = position_claims(model, feats[:, 0], sound.float(), prep["mag_mix"])
        got["features"].append(feats[:, 0].float().cpu().numpy())
        got["energy"].append(energy[:, 0].float().cpu().numpy())
        got["claims"].append(claims.float().cpu().numpy())
        got["weight"].append(chunk.mix_spec.abs().sum(dim=(1, 2)).numpy())
    return {k: np.concatenate(v) for k, v in got.items()}


def auto_regions(pixels: dict, max_sources: int, seed: int = 0) -> np.ndarray:
    """``(R, h, w)`` regions, R <= ``max_sources``, ordered left to right: the positions whose
    sound share (averaged over the windows by their loudness) is at least :data:`FOREGROUND` of
    the largest, grouped by k-means on what their masks take of the mixture over the clip (their
    claims, :func:`position_claims`) and on where they are (:data:`SPATIAL_WEIGHT`): nearby
    positions that claim the same sound form one region."""
    from sklearn.cluster import KMeans

    energy, weight, claims = pixels["energy"], pixels["weight"], pixels["claims"]
    h, w = energy.shape[1:]
    share = np.tensordot(weight / weight.sum(), energy, 1) if weight.sum() > 0 else energy.mean(0)
    x = claims.transpose(1, 0, 2).reshape(h * w, -1).astype(np.float64)
    fg = np.flatnonzero(share.ravel() >= FOREGROUND * share.max())
    k = max(1, min(max_sources, len(np.unique(x[fg].round(9), axis=0))))
    rows, cols = np.divmod(fg, w)
    where = np.stack([(cols + 0.5) / w, (rows + 0.5) / h], axis=1) / UNIFORM_STD
    spread = np.sqrt(((x[fg] - x[fg].mean(axis=0)) ** 2).sum(axis=1).mean())
    points = np.hstack([x[fg], SPATIAL_WEIGHT * spread * where])
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(points) if k > 1 else np.zeros(len(fg), int)
    regions = np.zeros((k, h * w), dtype=bool)
    regions[labels, fg] = True
    regions = regions.reshape(k, h, w)
    centre_x = [np.nonzero(r)[1].mean() for r in regions]
    return regions[np.argsort(centre_x, kind="stable")]


def region_vectors(feats: torch.Tensor, regions: torch.Tensor, pool: str) -> torch.Tensor:
    """Frame features ``(b, K, h, w)`` pooled over each region's positions ``(R, h, w)`` (bool)
    -> ``(b, R, K)``: max or mean, as the model pools over the whole frame."""
    flat, sel = feats.flatten(2)[:, None], regions.flatten(1)[None, :, None]  # (b,1,K,P), (1,R,1,P)
    if pool == "max":
        return torch.where(sel, flat, float("-inf")).amax(dim=-1)
    return (flat * sel).sum(dim=-1) / sel.sum(dim=-1)


def region_pixels(regions: np.ndarray, boxes: list | None, size_hw: tuple[int, int]) -> torch.Tensor:
    """``(R, H, W)`` 0/1 masks of each region's pixels on frames of ``size_hw``: the pixels whose
    centres lie in its box, or (auto regions, or a box narrower than a pixel) its feature-map
    positions scaled up to the frame."""
    grid = F.interpolate(torch.from_numpy(regions)[None].float(), size=size_hw, mode="nearest")[0]
    if boxes is None:
        return grid
    pixels = torch.from_numpy(cells_in_boxes(boxes, size_hw)).float()
    return torch.stack([box if box.any() else g for box, g in zip(pixels, grid, strict=True)])


def masked_region_vectors(model, frames: torch.Tensor, pixel_masks: torch.Tensor) -> torch.Tensor:
    """Each region's visual vector as if it were its own video: the frames ``(b, 1, n_frames, 3,
    H, W)`` with the pixels outside the region set to the mean colour (0 after ImageNet
    normalisation), through the frame net and pooled as the model pools a video -> ``(b, R, K)``."""
    return torch.cat([model.video_vectors(model.frame_maps(frames * mask)) for mask in pixel_masks], dim=1)


def region_pass(
    model, cfg: dict, clips: MediaClips, starts, pixels: dict, regions, progress, pixel_masks=None
) -> list:
    """Each region's sound, window by window: the region's mask (thresholded as the evaluation
    thresholds a binary model's) on the mixture -> ``(b, R, window)`` per batch. The mask's
    visual vector: with ``pixel_masks`` (:func:`region_pixels`) from the masked frames
    (:func:`masked_region_vectors`), else the frame features pooled over the region."""
    acfg, device = cfg["audio"], next(model.parameters()).device
    sel = torch.from_numpy(regions).to(device)
    pieces = []
    for b0, batch in _batches(starts, cfg, "separate: regions", progress):
        chunk = chunk_at(clips, [(0,)] * len(batch), [[s] for s in batch], b0, cfg)
        prep = spectral.prepare(chunk.sources.to(device), acfg)
        sound = model.sound(prep["log_mag"]).float()
        if pixel_masks is None:
            feats = torch.from_numpy(pixels["features"][b0 : b0 + len(batch)]).to(device)
            visual = region_vectors(feats, sel, model.pool)
        else:
            frames = chunk_frames(clips, chunk, crop_hw(cfg["frames"])).to(device)
            visual = masked_region_vectors(model, frames, pixel_masks.to(device))
        logits = model.synthesizer(visual, sound)
        soft = spectral.to_linear(torch.sigmoid(logits.float()), acfg).cpu()
        masks = (soft > cfg["eval"]["mask_threshold"]).float() if model.mask_kind == "binary" else soft
        pieces.append(spectral.apply_masks(masks, chunk.mix_spec, acfg, acfg["window"]).numpy())
    return pieces


def region_box(region: np.ndarray) -> list[float]:
    """The bounding box ``[x, y, w, h]`` (fractions of the frame) of a region's positions."""
    h, w = region.shape
    rows, cols = np.nonzero(region)
    return [
        cols.min() / w,
        rows.min() / h,
        (cols.max() + 1 - cols.min()) / w,
        (rows.max() + 1 - rows.min()) / h,
    ]


def regions_summary(model, cfg: dict, clips: MediaClips, args, out: Path, progress: bool) -> dict:
    """The one-video form: sound maps, regions (boxes or auto), each region's sound; write
    ``region_<k>.wav`` and ``sound_map.mp4``."""
    boxes = parse_regions(args.regions)
    n, rate = clips.audio(0).shape[1], clips.sample_rate
    starts = tile_starts(n, cfg["audio"]["window"])
    pixels = pixel_pass(model, cfg, clips, starts, progress)
    grid = pixels["features"].shape[2:]
    regions = auto_regions(pixels, args.max_sources) if boxes is None else box_regions(boxes, grid)
    masked = args.region_features == "masked"
    pixel_masks = region_pixels(regions, boxes, crop_hw(cfg["frames"])) if masked else None
    pieces = region_pass(model, cfg, clips, starts, pixels, regions, progress, pixel_masks)
    sounds = stitch(pieces, starts, n)
    out.mkdir(parents=True, exist_ok=True)
    mixture_energy = float(np.sum(clips.audio_float(0)[0] ** 2)) or 1.0
    listed = []
    for k, (region, sound) in enumerate(zip(regions, sounds, strict=True)):
        write_wav(out / f"region_{k}.wav", sound, rate)
        listed.append(
            {
                "region": k,
                "box": [round(v, 4) for v in (boxes[k] if boxes else region_box(region))],
                "positions": int(region.sum()),
                "energy_share": float(np.sum(sound**2)) / mixture_energy,
                "wav": str(out / f"region_{k}.wav"),
            }
        )
    sound_map_video(
        out / "sound_map.mp4",
        [clips.clips[0].video_path],
        pixels["energy"][:, None],
        _timing(clips, cfg, starts),
        clips.audio_float(0)[0],
        regions,
    )
    return {
        "form": "one video, sounds by region",
        "regions_from": "boxes" if boxes else "auto",
        "region_features": args.region_features,
        "seconds": n / rate,
        "windows": len(starts),
        "grid": list(grid),
        "regions": listed,
        "sound_map": str(out / "sound_map.mp4"),
    }


# -- entry points ------------------------------------------------------------------------------


def infer(model, cfg: dict, args, *, progress: bool = True) -> dict:
    """``avrepro separate VIDEO [VIDEO2]`` (see :mod:`.verb`)."""
    cfg = with_eval_defaults(cfg)
    videos = [args.video] + ([args.video2] if args.video2 else [])
    if len(videos) == 2 and args.regions.strip() != "auto":
        raise ValueError("--regions: for one video; two videos are separated by their own frames")
    if args.max_sources < 1:
        raise ValueError(f"--max-sources: must be at least 1, got {args.max_sources}")
    if len(videos) == 1:
        parse_regions(args.regions)  # a bad box fails before any decoding
    clips = load_clips(videos, args.audio, cfg)
    out = Path(args.out)
    with torch.no_grad():
        if len(videos) == 2:
            return pair_summary(model, cfg, clips, out, progress)
        return regions_summary(model, cfg, clips, args, out, progress)


def demo_pairs(count: int) -> list[tuple[int, int]]:
    """Clip pairs of the demo: first with second, third with fourth, ...; an odd last clip is
    paired with the first."""
    pairs = [(i, i + 1) for i in range(0, count - 1, 2)]
    return pairs + [(count - 1, 0)] if count % 2 and count > 1 else pairs


def demo(model, cfg: dict, clips: list[dict], out_dir: Path, *, progress: bool = True) -> dict:
    """The two-video form on pairs of held-out test clips: mixture, separated sounds and the
    side-by-side sound-map video per pair, with BSS Eval per source and of the mixture."""
    if len(clips) < 2:
        raise ValueError(f"the separation demo mixes pairs of clips: needs at least 2, got {len(clips)}")
    cfg = with_eval_defaults(cfg)
    items = []
    for p, (a, b) in enumerate(demo_pairs(len(clips))):
        pair = [clips[a], clips[b]]
        media = load_clips([c["video"] for c in pair], [c["audio"] for c in pair], cfg)
        with torch.no_grad():
            result = separate_pair(model, cfg, media, progress)
        files = write_pair(result, media, cfg, Path(out_dir), prefix=f"pair{p}_")
        scores = clip_scores(result["sources"], result["estimates"], result["mixture"])
        numbers = {f"{k}_{n + 1}": scores[k][n] for n in range(2) for k in ("sdr", "sir", "sar")}
        items.append(
            {
                "title": f"{pair[0]['clip_id']} (1) + {pair[1]['clip_id']} (2), mixed then separated",
                "clip": f"{pair[0]['clip_id']}+{pair[1]['clip_id']}",
                "files": [files["mixture"], *files["separated"], files["sound_map"]],
                "numbers": {**numbers, "sdr_mixture": scores["sdr_mixture"]},
            }
        )
    keys = ("sdr", "sir", "sar")
    summary = {k: float(np.nanmean([i["numbers"][f"{k}_{n}"] for i in items for n in (1, 2)])) for k in keys}
    summary["sdr_mixture"] = float(np.nanmean([i["numbers"]["sdr_mixture"] for i in items]))
    return {"items": items, "summary": {**summary, "n_pairs": len(items)}}
