"""Decoded, memory-mappable feature shards per (dataset, split, feature set): ``cache_features``.

Decoding mp4 is the slow part of reading these datasets, so each split is decoded once into
shards of at most ``shard_clips`` clips::

    <out_dir>/audio_00000.npy    int16 [n, C, T_max]      audio at features.sample_rate, zero padded
    <out_dir>/frames_00000.npy   uint8 [n, F_max, H, W, 3] every frame, resized to W x H, zero padded
    <out_dir>/index.json         key (what shaped the cache), shards, per-clip shard/row/lengths

:class:`FeatureCache` opens them with ``np.load(mmap_mode="r")`` and hands out views trimmed to
each clip's length; nothing is read from disk until a sample is used.
"""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import resample_poly
from tqdm import tqdm

from avrepro.config import config_hash
from avrepro.data.split import read_split
from avrepro.data.verify import DataIssueError, read_manifest
from avrepro.io import atomic_dir, read_json, write_json
from avrepro.media import read_mp4_frames, read_wav

CACHE_VERSION = 1
FEATURE_KEYS = ("sample_rate", "frame_width", "frame_height")
INDEX_NAME = "index.json"


class CacheError(ValueError):
    """A feature cache is missing, incomplete, or built with other parameters."""


def _check_features(features: Mapping[str, Any]) -> dict[str, int]:
    missing = [k for k in FEATURE_KEYS if k not in features]
    if missing:
        raise ValueError(f"cache features lack {', '.join(missing)} (need {', '.join(FEATURE_KEYS)})")
    out = {}
    for k in FEATURE_KEYS:
        v = features[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"cache feature {k}={v!r} must be a positive integer")
        out[k] = v
    return out


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resampled_length(n: int, rate_in: int, rate_out: int) -> int:
    """Length of ``resample_poly`` output for ``n`` input samples."""
    frac = Fraction(rate_out, rate_in)
    return math.ceil(n * frac.numerator / frac.denominator)


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 (scaled by 32767, rounded, clipped)."""
    return np.clip(np.rint(audio * 32767.0), -32767, 32767).astype(np.int16)


def resample(audio: np.ndarray, rate_in: int, rate: int) -> np.ndarray:
    """Float32 ``(C, T)`` audio from ``rate_in`` to ``rate`` with ``resample_poly`` (as is when equal)."""
    if rate_in != rate:
        frac = Fraction(rate, rate_in)
        audio = resample_poly(audio, frac.numerator, frac.denominator, axis=-1).astype(np.float32)
    return audio


def load_audio(path: str | Path, rate: int) -> np.ndarray:
    """Read a wav as float32 ``(C, T)`` at ``rate`` (resampled with ``resample_poly`` if needed)."""
    audio, rate_in = read_wav(path)
    return resample(audio, rate_in, rate)


def _split_rows(manifest_csv: Path, split_file: Path) -> pd.DataFrame:
    """The manifest rows of a split's clips (one per clip id, in manifest order)."""
    manifest = read_manifest(manifest_csv)
    ids = read_split(split_file)
    unknown = sorted(set(ids) - set(manifest["clip_id"]))
    if unknown:
        raise DataIssueError(
            split_file,
            f"{len(unknown)} clip id(s) not in {manifest_csv} "
            f"(first: {unknown[0]!r}); rerun split after verify",
        )
    rows = manifest[manifest["clip_id"].isin(set(ids))].drop_duplicates("clip_id")
    if rows.empty:
        raise DataIssueError(split_file, "split is empty: nothing to cache")
    return rows


def _common_format(rows: pd.DataFrame, manifest_csv: Path) -> tuple[int, float]:
    """The one channel count and frame rate all clips of a split share."""
    channels = sorted(set(rows["channels"]))
    if len(channels) != 1:
        raise DataIssueError(manifest_csv, f"clips of one split must have one channel count, got {channels}")
    fps_values = sorted(set(np.round(rows["fps"].to_numpy(), 3)))
    if len(fps_values) != 1:
        raise DataIssueError(
            manifest_csv,
            f"clips of one split must have one frame rate, got {fps_values} fps; re-encode the videos",
        )
    return int(channels[0]), float(rows["fps"].iloc[0])


def _records(rows: pd.DataFrame, rate: int) -> list[dict]:
    """The rows as dicts with the lengths the manifest expects (``_max_samples`` at ``rate``,
    ``_max_frames``), which size each shard before decoding."""
    records = rows.to_dict("records")
    for r in records:
        n_in = int(round(r["duration_s"] * r["sample_rate"]))
        r["_max_samples"] = resampled_length(n_in, int(r["sample_rate"]), rate)
        r["_max_frames"] = int(r["n_frames"])
    return records


def _decode_clip(
    r: dict, raw_dir: Path, feats: dict[str, int], n_chan: int, t_max: int, f_max: int
) -> tuple[np.ndarray, np.ndarray]:
    """One clip's float audio at the cache's rate and its resized frames, checked against the
    manifest (channels) and the shard's size (lengths)."""
    rate = feats["sample_rate"]
    audio_path, video_path = raw_dir / r["audio"], raw_dir / r["video"]
    audio = load_audio(audio_path, rate)
    if audio.shape[0] != n_chan:
        raise DataIssueError(audio_path, f"{audio.shape[0]} channels, manifest says {n_chan}; rerun verify")
    if audio.shape[1] > t_max:
        raise DataIssueError(
            audio_path,
            f"{audio.shape[1]} samples at {rate} Hz, more "
            f"than the manifest's duration allows "
            f"({t_max}); rerun verify",
        )
    frames, _ = read_mp4_frames(video_path, size=(feats["frame_width"], feats["frame_height"]))
    if frames.shape[0] > f_max:
        raise DataIssueError(
            video_path, f"{frames.shape[0]} frames, manifest says {r['n_frames']}; rerun verify"
        )
    return audio, frames


def _write_shard(
    tmp: Path,
    s: int,
    chunk: list[dict],
    raw_dir: Path,
    feats: dict[str, int],
    n_chan: int,
    clips: list[dict],
    bar: tqdm,
) -> dict:
    """Decode ``chunk`` into shard ``s`` under ``tmp``; append each clip's index entry to
    ``clips``; return the shard's entry."""
    t_max = max(r["_max_samples"] for r in chunk)
    f_max = max(r["_max_frames"] for r in chunk)
    names = {"audio": f"audio_{s:05d}.npy", "frames": f"frames_{s:05d}.npy"}
    a_mm = np.lib.format.open_memmap(
        tmp / names["audio"], mode="w+", dtype=np.int16, shape=(len(chunk), n_chan, t_max)
    )
    f_mm = np.lib.format.open_memmap(
        tmp / names["frames"],
        mode="w+",
        dtype=np.uint8,
        shape=(len(chunk), f_max, feats["frame_height"], feats["frame_width"], 3),
    )
    for row, r in enumerate(chunk):
        audio, frames = _decode_clip(r, raw_dir, feats, n_chan, t_max, f_max)
        a_mm[row, :, : audio.shape[1]] = to_int16(audio)
        f_mm[row, : frames.shape[0]] = frames
        clips.append(
            {
                "clip_id": r["clip_id"],
                "group": r["group"],
                "shard": s,
                "row": row,
                "n_samples": int(audio.shape[1]),
                "n_frames": int(frames.shape[0]),
                "meta": r["meta"] if isinstance(r["meta"], str) and r["meta"] else None,
            }
        )
        bar.update(1)
    a_mm.flush()
    f_mm.flush()
    del a_mm, f_mm
    return {**names, "n_clips": len(chunk), "max_samples": t_max, "max_frames": f_max}


def _cache_key(
    feats: dict[str, int], dataset: str, split: str, manifest_csv: Path, rows: pd.DataFrame
) -> dict:
    """What shapes a cache: the features, the cache version, the names, and the hashes of the
    manifest and of the split's clip ids (in manifest order)."""
    return {
        **feats,
        "version": CACHE_VERSION,
        "dataset": dataset,
        "split": split,
        "manifest_sha256": _sha256_file(manifest_csv),
        "clips_sha256": hashlib.sha256("\n".join(rows["clip_id"]).encode()).hexdigest(),
    }


def _write_shards(
    tmp: Path,
    records: list[dict],
    shard_clips: int,
    raw_dir: Path,
    feats: dict[str, int],
    n_chan: int,
    bar: tqdm,
) -> tuple[list[dict], list[dict]]:
    """Decode ``records`` into shards of at most ``shard_clips`` clips under ``tmp``; return the
    shards' and the clips' index entries."""
    shards, clips = [], []
    for s, start in enumerate(range(0, len(records), shard_clips)):
        chunk = records[start : start + shard_clips]
        shards.append(_write_shard(tmp, s, chunk, raw_dir, feats, n_chan, clips, bar))
    return shards, clips


def _cache_index(
    key: dict, fps: float, n_chan: int, raw_dir: Path, shards: list[dict], clips: list[dict]
) -> dict:
    """The cache's ``index.json`` (names and features taken from ``key``)."""
    return {
        "key": key,
        "key_hash": config_hash(key),
        "dataset": key["dataset"],
        "split": key["split"],
        "sample_rate": key["sample_rate"],
        "fps": fps,
        "frame_size": [key["frame_width"], key["frame_height"]],
        "channels": n_chan,
        "raw_dir": str(raw_dir),
        "shards": shards,
        "clips": clips,
    }


def build_cache(
    manifest_csv: str | Path,
    raw_dir: str | Path,
    split_file: str | Path,
    out_dir: str | Path,
    features: Mapping[str, Any],
    progress: bool = True,
    shard_clips: int = 256,
    dataset: str | None = None,
    split: str | None = None,
) -> dict:
    """Decode one split of a dataset into memory-mappable shards (written atomically).

    Args:
        manifest_csv: ``data/manifests/<dataset>.csv`` (from ``verify``).
        raw_dir: the raw dataset directory the manifest's paths are relative to; stored in the
            index as given (absolute or relative to the working directory) for ``meta``.
        split_file: ``data/splits/<dataset>/<split>.txt``; its stem names the split.
        out_dir: ``data/cache/<dataset>/<split>``; replaced as a whole, only on success.
        features: ``{"sample_rate", "frame_width", "frame_height"}`` (params ``<task>.features``).
        progress: show a tqdm bar on stderr.
        shard_clips: most clips per shard.
        dataset, split: names stored in the index (default: the manifest's and split file's stems).
    Returns:
        the index written to ``<out_dir>/index.json``.
    Raises:
        DataIssueError: manifest/split unreadable, a split id not in the manifest, an empty split,
            clips with different channel counts or frame rates, or a clip longer than the
            manifest says (stale manifest).
        MediaError: a clip cannot be decoded (names the file).
    """
    feats = _check_features(features)
    if shard_clips < 1:
        raise ValueError(f"shard_clips must be >= 1, got {shard_clips}")
    manifest_csv, split_file, raw_dir = Path(manifest_csv), Path(split_file), Path(raw_dir)
    rows = _split_rows(manifest_csv, split_file)
    n_chan, fps = _common_format(rows, manifest_csv)
    dataset = dataset or manifest_csv.stem
    split = split or split_file.stem
    key = _cache_key(feats, dataset, split, manifest_csv, rows)
    records = _records(rows, feats["sample_rate"])
    bar = tqdm(
        total=len(records),
        desc=f"cache {dataset}/{split}",
        unit="clip",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    with bar, atomic_dir(out_dir) as tmp:
        shards, clips = _write_shards(tmp, records, shard_clips, raw_dir, feats, n_chan, bar)
        index = _cache_index(key, fps, n_chan, raw_dir, shards, clips)
        write_json(tmp / INDEX_NAME, index)
    return index


class FeatureCache:
    """Read a cache built by :func:`build_cache`; every array is a read-only memory map.

    Args:
        cache_dir: the cache directory (holding ``index.json``).
        expect: key entries the cache must have been built with, e.g. params
            ``binaural.features``; a mismatch raises :class:`CacheError`.
        raw_dir: where the clips' meta JSON lives (default: the raw_dir stored in the index).
    """

    def __init__(
        self,
        cache_dir: str | Path,
        expect: Mapping[str, Any] | None = None,
        raw_dir: str | Path | None = None,
    ):
        self.cache_dir = Path(cache_dir)
        index_path = self.cache_dir / INDEX_NAME
        if not index_path.is_file():
            raise CacheError(
                f"cache {self.cache_dir} has no {INDEX_NAME} (missing or incomplete): rerun cache_features"
            )
        try:
            self.index = read_json(index_path)
        except ValueError as exc:
            raise CacheError(f"cache {self.cache_dir}: {exc}: rerun cache_features") from None
        self.key = self.index["key"]
        for k, want in (expect or {}).items():
            if k not in self.key:
                raise CacheError(
                    f"cache {self.cache_dir} was built without {k}, expected {want}: rerun cache_features"
                )
            if self.key[k] != want:
                raise CacheError(
                    f"cache {self.cache_dir} was built with {k}={self.key[k]}, "
                    f"expected {want}: rerun cache_features"
                )
        self._clips = self.index["clips"]
        self.clip_ids = [c["clip_id"] for c in self._clips]
        self._pos = {c: i for i, c in enumerate(self.clip_ids)}
        self.raw_dir = Path(raw_dir if raw_dir is not None else self.index["raw_dir"])
        self._arrays: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._meta: dict[int, dict | None] = {}
        self._open()

    def _open(self) -> None:
        arrays = []
        for sh in self.index["shards"]:
            pair = []
            for kind in ("audio", "frames"):
                path = self.cache_dir / sh[kind]
                try:
                    pair.append(np.load(path, mmap_mode="r"))
                except (OSError, ValueError) as exc:
                    raise CacheError(
                        f"cache {self.cache_dir}: cannot open {sh[kind]} ({exc}): rerun cache_features"
                    ) from None
            a, f = pair
            w, h = self.index["frame_size"]
            if a.shape != (sh["n_clips"], self.index["channels"], sh["max_samples"]) or f.shape != (
                sh["n_clips"],
                sh["max_frames"],
                h,
                w,
                3,
            ):
                raise CacheError(
                    f"cache {self.cache_dir}: shard {sh['audio']}/{sh['frames']} has "
                    f"shapes {a.shape}/{f.shape}, not what index.json says: "
                    f"rerun cache_features"
                )
            arrays.append((a, f))
        self._arrays = arrays

    # memory maps are reopened in each process instead of being pickled (DataLoader workers)
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def _shard(self, i: int) -> tuple[np.ndarray, np.ndarray, dict]:
        if self._arrays is None:
            self._open()
        c = self._clips[i]
        a, f = self._arrays[c["shard"]]
        return a, f, c

    def __len__(self) -> int:
        return len(self._clips)

    def position(self, clip_id: str) -> int:
        """Index of a clip id."""
        try:
            return self._pos[clip_id]
        except KeyError:
            raise KeyError(f"clip {clip_id!r} is not in cache {self.cache_dir}") from None

    def audio(self, i: int) -> np.ndarray:
        """``(C, n_samples)`` int16 view of clip ``i``'s audio (divide by 32767 for float)."""
        a, _, c = self._shard(i)
        return a[c["row"], :, : c["n_samples"]]

    def audio_float(self, i: int) -> np.ndarray:
        """``(C, n_samples)`` float32 copy of clip ``i``'s audio in [-1, 1]."""
        return self.audio(i).astype(np.float32) / 32767.0

    def frames(self, i: int) -> np.ndarray:
        """``(n_frames, H, W, 3)`` uint8 view of clip ``i``'s frames."""
        _, f, c = self._shard(i)
        return f[c["row"], : c["n_frames"]]

    def info(self, i: int) -> dict:
        """Clip entry: clip_id, group, shard, row, n_samples, n_frames, meta (path or None)."""
        return self._clips[i]

    def meta(self, i: int) -> dict | None:
        """Clip ``i``'s meta JSON (read once from the raw dir), or ``None`` if it has none."""
        if i not in self._meta:
            rel = self._clips[i]["meta"]
            self._meta[i] = read_json(self.raw_dir / rel) if rel else None
        return self._meta[i]

    @property
    def sample_rate(self) -> int:
        return int(self.index["sample_rate"])

    @property
    def fps(self) -> float:
        return float(self.index["fps"])

    @property
    def channels(self) -> int:
        return int(self.index["channels"])

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(W, H)``."""
        w, h = self.index["frame_size"]
        return int(w), int(h)

    @property
    def groups(self) -> list[str]:
        return [c["group"] for c in self._clips]

    def __repr__(self) -> str:
        return (
            f"FeatureCache({str(self.cache_dir)!r}, {len(self)} clips, {self.sample_rate} Hz, "
            f"{self.fps:g} fps, {self.frame_size[0]}x{self.frame_size[1]})"
        )
