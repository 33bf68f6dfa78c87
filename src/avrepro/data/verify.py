"""Check every clip of a raw dataset and write its manifest (the ``verify`` rule).

A raw dataset directory holds ``videos/<id>.mp4``, ``binaural_audios/<id>.wav``, optionally
``meta/<id>.json`` and ``dataset.json`` (``{"name", "clips": [ids]}``). Each clip is decoded in
full; a clip that cannot be used (corrupt or truncated video, missing or unreadable audio, mono
where binaural is expected, silent or NaN audio, too short, audio and video lengths that
disagree, unparseable meta) is listed in the issues CSV and left out of the manifest, or, in
strict mode, stops the run with a :class:`DataIssueError` naming the file and the reason.

Extensions match in any case (``.MP4``); a clip name follows :data:`CLIP_NAME_RULE`; a video is
decoded with FFmpeg's error log on, so a damaged stream whose errors the decoder conceals is
excluded too; files of other extensions in the video and audio folders are listed as not used. A
clip converted from a user's folder names that folder's file in the issues (meta ``source_files``).

The manifest (``data/manifests/<dataset>.csv``) has one row per good clip; paths are relative
to the raw directory. Its row format is ``workflow/schemas/manifest.schema.yaml``; read it back
with :func:`read_manifest` (clip ids stay strings: ``000001`` is not the number 1).
"""

from __future__ import annotations

import glob
import math
import multiprocessing as mp
import re
import sys
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from avrepro.io import atomic_path, read_json
from avrepro.media import MediaError, probe_mp4, read_mp4_frames, read_wav

MANIFEST_COLUMNS = [
    "clip_id",
    "group",
    "video",
    "audio",
    "meta",
    "duration_s",
    "sample_rate",
    "channels",
    "n_frames",
    "fps",
    "width",
    "height",
]
ISSUE_COLUMNS = ["dataset", "clip_id", "file", "reason"]
STRING_COLUMNS = ["clip_id", "group", "video", "audio", "meta"]
INT_COLUMNS = ["sample_rate", "channels", "n_frames", "width", "height"]
FLOAT_COLUMNS = ["duration_s", "fps"]

#: a clip id is a file stem: no path separators, not starting with a dot
CLIP_ID_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
CLIP_NAME_RULE = "allowed: letters A-Z a-z, digits 0-9, '_', '-', '.'; not starting with '.'"
SILENCE_PEAK = 1e-4  # peak |x| below this is silent audio
MAX_AV_MISMATCH_S = 0.5  # audio and video durations must agree within this
VERIFY_DECODE_SIZE = (32, 16)  # frames are decoded at this (W, H) only to prove they decode
PARALLEL_MIN_CLIPS = 64  # fewer clips are checked in the verify process itself
VIDEO_DIR = "videos"
AUDIO_DIR = "binaural_audios"
META_DIR = "meta"
VIDEO_EXT, AUDIO_EXT = ".mp4", ".wav"


class DataIssueError(ValueError):
    """A clip or dataset cannot be used; ``str(err)`` names the file and the reason."""

    def __init__(self, file: str | Path, reason: str, clip_id: str | None = None):
        self.file = str(file)
        self.reason = reason
        self.clip_id = clip_id
        super().__init__(f"{file}: {reason}")


def clip_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a clip name (``None`` when it can): see :data:`CLIP_NAME_RULE`."""
    return None if CLIP_ID_RE.match(name) else f"invalid clip name {name!r} ({CLIP_NAME_RULE})"


def has_ext(path: Path, ext: str) -> bool:
    """``path`` ends in ``ext`` in any case (``.MP4``, ``.Mp4`` are ``.mp4``)."""
    return path.suffix.lower() == ext


def media_file(folder: Path, stem: str, ext: str) -> Path:
    """``folder/<stem><ext>``, or the existing file whose extension differs only in case."""
    path = folder / f"{stem}{ext}"
    if path.exists() or not folder.is_dir():
        return path
    variants = (
        p for p in sorted(folder.glob(f"{glob.escape(stem)}.*")) if p.stem == stem and has_ext(p, ext)
    )
    return next(variants, path)


def unused_reason(folder: str, ext: str) -> str:
    """The issue reason of a file in ``folder`` that is not a ``*<ext>`` file."""
    return f"not used: only {ext} files are read from {folder}/"


def unused_files(folder: Path, ext: str) -> list[Path]:
    """Entries of ``folder`` that are not ``*<ext>`` files (hidden ones aside): nothing reads them."""
    if not folder.is_dir():
        return []
    return [
        p
        for p in sorted(folder.iterdir())
        if not p.name.startswith(".") and not (p.is_file() and has_ext(p, ext))
    ]


def list_clips(raw_dir: str | Path) -> list[str]:
    """Clip ids of a raw dataset: ``dataset.json``'s ``clips`` (in order, duplicates dropped),
    else the stems of ``videos/*.mp4`` (any case of the extension; sorted).

    Raises:
        DataIssueError: ``dataset.json`` unreadable or malformed, or neither it nor
            ``videos/`` exists.
    """
    raw_dir = Path(raw_dir)
    listing = raw_dir / "dataset.json"
    if listing.is_file():
        try:
            obj = read_json(listing)
        except ValueError as exc:
            raise DataIssueError(listing, f"unreadable dataset listing ({exc})") from None
        clips = obj.get("clips") if isinstance(obj, dict) else None
        if not isinstance(clips, list) or not all(isinstance(c, (str, int)) for c in clips):
            raise DataIssueError(listing, 'expected {"name": ..., "clips": [clip ids]}')
        return list(dict.fromkeys(str(c) for c in clips))
    videos = raw_dir / VIDEO_DIR
    if not videos.is_dir():
        raise DataIssueError(raw_dir, f"not a raw dataset: neither dataset.json nor {VIDEO_DIR}/ exists")
    return sorted({p.stem for p in videos.iterdir() if p.is_file() and has_ext(p, VIDEO_EXT)})


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


Issues = list[tuple[str, str]]  # (file relative to the raw dir, reason)


def _check_meta(meta: Path, mrel: str, clip_id: str) -> tuple[str, dict | None, Issues]:
    """The optional meta JSON: a parseable object; gives the split group (default: the clip id)."""
    group, meta_obj, issues = clip_id, None, []
    if not meta.exists():
        return group, meta_obj, issues
    try:
        meta_obj = read_json(meta)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        issues.append((mrel, f"unreadable meta JSON ({str(exc).split(': ', 1)[-1]})"))
        return group, meta_obj, issues
    if not isinstance(meta_obj, dict):
        issues.append((mrel, "meta JSON is not an object"))
        return group, None, issues
    if "clip_id" in meta_obj and str(meta_obj["clip_id"]) != clip_id:
        issues.append(
            (mrel, f"meta clip_id {meta_obj['clip_id']!r} does not match the file name {clip_id!r}")
        )
    if meta_obj.get("group") not in (None, ""):
        group = str(meta_obj["group"])
    return group, meta_obj, issues


def _check_video(video: Path, vrel: str, meta_obj: dict | None) -> tuple[dict, float | None, Issues]:
    """Decode the video in full (at a tiny size, so a long HD video does not fill the memory).

    Returns:
        ``{"n_frames", "fps", "width", "height"}`` (0 / NaN where unknown), its duration in
        seconds (``None`` where unknown) and its issues.
    """
    facts = {"n_frames": 0, "fps": float("nan"), "width": 0, "height": 0}
    video_s, issues = None, []
    try:
        probe = probe_mp4(video)
        width, height, declared = int(probe["width"]), int(probe["height"]), int(probe["frames"])
        facts.update(width=width, height=height)
        frames, fps = read_mp4_frames(video, size=VERIFY_DECODE_SIZE, strict=True)
        n_frames = int(frames.shape[0])
        del frames
        if not (math.isfinite(fps) and fps > 0):
            fps = float((meta_obj or {}).get("fps") or "nan")
        facts.update(n_frames=n_frames, fps=fps)
        if not (math.isfinite(fps) and fps > 0):
            issues.append((vrel, "unknown frame rate"))
        else:
            video_s = n_frames / fps
        if declared and n_frames < declared:
            issues.append((vrel, f"truncated video: decoded {n_frames} of {declared} frames"))
        if width < 1 or height < 1:
            issues.append((vrel, f"bad frame size {width}x{height}"))
    except MediaError as exc:
        issues.append((vrel, exc.reason))
    return facts, video_s, issues


def _check_audio(
    audio: Path, arel: str, channels: int, curation: Mapping[str, Any] | None
) -> tuple[int, int, float | None, Issues]:
    """Read the audio: channel count, the FOA curation test where asked, silence.

    Returns:
        channels, sample rate (0 where unreadable), duration in seconds (``None`` where
        unreadable) and the issues.
    """
    n_chan = rate = 0
    audio_s, issues = None, []
    try:
        wav, rate = read_wav(audio)
        n_chan = int(wav.shape[0])
        audio_s = wav.shape[1] / rate
        if n_chan != channels:
            kind = {1: "mono", 2: "stereo"}.get(n_chan, f"{n_chan}-channel")
            issues.append((arel, f"{kind} audio where {channels} channels are expected"))
        elif curation:
            from avrepro.data.curation import check_foa

            ok, _, reason = check_foa(wav, rate, float(curation["tau"]), float(curation["lowpass_hz"]))
            if not ok:
                issues.append((arel, f"curation: {reason}"))
        peak = float(np.max(np.abs(wav)))
        if peak < SILENCE_PEAK:
            issues.append((arel, f"silent audio (peak {peak:.1e} < {SILENCE_PEAK:.0e})"))
        del wav
    except MediaError as exc:
        issues.append((arel, exc.reason))
    return n_chan, rate, audio_s, issues


def _check_durations(
    audio_s: float | None,
    video_s: float | None,
    arel: str,
    vrel: str,
    min_seconds: float,
    max_av_mismatch_s: float,
) -> Issues:
    """Both long enough, and of about the same length."""
    issues = []
    if audio_s is not None and audio_s < min_seconds:
        issues.append((arel, f"clip too short: audio {audio_s:.3f} s < min_seconds {min_seconds} s"))
    if video_s is not None and video_s < min_seconds:
        issues.append((vrel, f"clip too short: video {video_s:.3f} s < min_seconds {min_seconds} s"))
    if audio_s is not None and video_s is not None and abs(audio_s - video_s) > max_av_mismatch_s:
        issues.append(
            (
                vrel,
                f"audio ({audio_s:.3f} s) and video ({video_s:.3f} s) durations "
                f"differ by more than {max_av_mismatch_s} s",
            )
        )
    return issues


def _relative_reasons(issues: Issues, paths: dict[str, str]) -> Issues:
    """Reasons quote the decoder's message; keep them free of this machine's absolute paths
    (``paths``: absolute path -> path relative to the raw dir)."""
    paths = dict(paths)
    for absolute, rel in list(paths.items()):
        paths[str(Path(absolute).resolve())] = rel
    cleaned = []
    for file, reason in issues:
        for absolute in sorted(paths, key=len, reverse=True):
            reason = reason.replace(absolute, paths[absolute])
        cleaned.append((file, reason))
    return cleaned


def check_clip(
    raw_dir: str | Path,
    clip_id: str,
    min_seconds: float,
    channels: int = 2,
    audio_dir: str = AUDIO_DIR,
    video_dir: str = VIDEO_DIR,
    max_av_mismatch_s: float = MAX_AV_MISMATCH_S,
    curation: Mapping[str, Any] | None = None,
) -> tuple[dict | None, Issues]:
    """Check one clip.

    ``curation`` (``{"tau", "lowpass_hz"}``, first-order ambisonics only) also applies the AVSA
    curation test (:func:`avrepro.data.curation.check_foa`): a clip whose FOA fails it is excluded.

    Returns:
        ``(row, issues)``: the manifest row (``None`` if the clip is unusable) and a list of
        ``(file relative to raw_dir, reason)``; a clip is good exactly when ``issues`` is empty.
    """
    root = Path(raw_dir)
    problem = clip_name_problem(clip_id)
    if problem:
        listing = "dataset.json" if (root / "dataset.json").is_file() else f"{video_dir}/{clip_id}{VIDEO_EXT}"
        return None, [(listing, problem)]
    video = media_file(root / video_dir, clip_id, VIDEO_EXT)
    audio = media_file(root / audio_dir, clip_id, AUDIO_EXT)
    meta = root / META_DIR / f"{clip_id}.json"
    vrel, arel, mrel = _rel(video, root), _rel(audio, root), _rel(meta, root)
    group, meta_obj, meta_issues = _check_meta(meta, mrel, clip_id)
    vfacts, video_s, video_issues = _check_video(video, vrel, meta_obj)
    n_chan, rate, audio_s, audio_issues = _check_audio(audio, arel, channels, curation)
    issues = (
        meta_issues
        + video_issues
        + audio_issues
        + _check_durations(audio_s, video_s, arel, vrel, min_seconds, max_av_mismatch_s)
    )
    if issues:
        return None, _relative_reasons(issues, {str(video): vrel, str(audio): arel, str(meta): mrel})
    row = {
        "clip_id": clip_id,
        "group": group,
        "video": vrel,
        "audio": arel,
        "meta": mrel if meta_obj is not None else None,
        "duration_s": float(audio_s),
        "sample_rate": int(rate),
        "channels": n_chan,
        "n_frames": vfacts["n_frames"],
        "fps": float(vfacts["fps"]),
        "width": vfacts["width"],
        "height": vfacts["height"],
    }
    return row, []


def _write_csv(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def _merge_issues(issues_out: Path, dataset: str, new: pd.DataFrame) -> pd.DataFrame:
    """Replace this dataset's rows in an existing issues file, keep other datasets' rows."""
    if issues_out.is_file():
        try:
            old = pd.read_csv(issues_out, dtype=str, keep_default_na=False)
        except Exception:
            old = None
        if old is not None and list(old.columns) == ISSUE_COLUMNS:
            old = old[old["dataset"] != dataset]
            if len(old):
                return pd.concat([old, new], ignore_index=True)
    return new


def download_issues(raw_dir: str | Path, dataset: str) -> list[dict]:
    """Rows of ``<raw_dir>/download_report.csv`` (clips a real-dataset source could not fetch or
    convert: dead videos, corrupt files) as issue rows, so they reach
    ``reports/data_issues/<dataset>.csv``."""
    path = Path(raw_dir) / "download_report.csv"
    if not path.is_file():
        return []
    try:
        report = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:
        return [
            {
                "dataset": dataset,
                "clip_id": "",
                "file": path.name,
                "reason": f"unreadable download report ({exc})",
            }
        ]
    return [
        {
            "dataset": dataset,
            "clip_id": r.get("clip_id", ""),
            "file": r.get("file", ""),
            "reason": f"download: {r.get('reason', '')}",
        }
        for r in report.to_dict("records")
    ]


def source_files(raw_dir: Path, clip_id: str) -> dict[str, str]:
    """The user's files a clip was converted from (meta ``source_files``: path relative to the raw
    dir -> the user's path), so issues name the file the user can fix; ``{}`` if not recorded."""
    if clip_name_problem(clip_id):
        return {}
    meta = raw_dir / META_DIR / f"{clip_id}.json"
    try:
        files = read_json(meta).get("source_files") if meta.is_file() else None
    except (ValueError, OSError, UnicodeDecodeError, AttributeError):
        files = None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _user_named(raw_dir: Path, clip_id: str, clip_issues: Issues) -> list[tuple[str, str]]:
    """``clip_issues`` with each converted file named as the user's file it came from."""
    files = source_files(raw_dir, clip_id)
    named = []
    for file, reason in clip_issues:
        shown = files.get(file, file)
        named.append((shown, reason.replace(file, shown) if shown != file else reason))
    return named


def unused_file_issues(raw_dir: Path, dataset: str, layout: Mapping[str, Any]) -> list[dict]:
    """One issue row per entry of the video and audio folders that is not a video / audio file
    (another extension): listed once, never read."""
    rows = []
    for folder, ext in ((layout["video_dir"], VIDEO_EXT), (layout["audio_dir"], AUDIO_EXT)):
        for path in unused_files(raw_dir / folder, ext):
            rows.append(
                {
                    "dataset": dataset,
                    "clip_id": "",
                    "file": _rel(path, raw_dir),
                    "reason": unused_reason(folder, ext),
                }
            )
    return rows


def _check_clips(
    raw_dir: Path,
    dataset: str,
    clip_ids: list[str],
    min_seconds: float,
    layout: Mapping[str, Any],
    strict: bool,
    progress: bool,
    workers: int = 1,
) -> tuple[list[dict], list[dict]]:
    """:func:`check_clip` on every clip (``layout``: its keyword arguments; ``workers`` processes),
    in order: the manifest rows of the good clips and the issue rows of the bad ones; in
    ``strict`` mode the first bad clip raises :class:`DataIssueError`."""
    rows, issues = [], []
    jobs = [(raw_dir, clip_id, min_seconds, dict(layout)) for clip_id in clip_ids]
    parallel = workers > 1 and len(jobs) >= PARALLEL_MIN_CLIPS  # (a pool's start-up costs ~1 s)
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) if parallel else None
    checked = pool.map(_check_job, jobs, chunksize=32) if pool else map(_check_job, jobs)
    try:
        for clip_id, (row, clip_issues) in tqdm(
            zip(clip_ids, checked, strict=True),
            total=len(clip_ids),
            desc=f"verify {dataset}",
            unit="clip",
            file=sys.stderr,
            disable=not progress,
            leave=False,
        ):
            _sort_clip(raw_dir, dataset, clip_id, row, clip_issues, strict, rows, issues)
    finally:
        if pool:  # a strict stop cancels the clips not checked yet
            pool.shutdown(wait=True, cancel_futures=True)
    return rows, issues


def _check_job(args) -> tuple[dict | None, list]:
    raw_dir, clip_id, min_seconds, layout = args
    return check_clip(raw_dir, clip_id, min_seconds, **layout)


def _sort_clip(raw_dir, dataset, clip_id, row, clip_issues, strict, rows, issues) -> None:
    """A checked clip's manifest row into ``rows``, or its issues (naming the user's files) into
    ``issues``; in ``strict`` mode a bad clip raises :class:`DataIssueError`."""
    if not clip_issues:
        rows.append(row)
        return
    named = _user_named(raw_dir, clip_id, clip_issues)
    if strict:
        (file, reason), raw_file = named[0], clip_issues[0][0]
        raise DataIssueError(raw_dir / file if file == raw_file else file, reason, clip_id=clip_id)
    issues += [{"dataset": dataset, "clip_id": clip_id, "file": f, "reason": r} for f, r in named]


def verify_dataset(
    raw_dir: str | Path,
    dataset: str,
    cfg: Mapping[str, Any],
    manifest_out: str | Path,
    issues_out: str | Path,
    progress: bool = True,
    workers: int = 1,
) -> pd.DataFrame:
    """Check every clip of ``raw_dir`` (``workers`` processes); write the manifest of good clips
    and the issue list.

    Args:
        raw_dir: the raw dataset directory (``data/raw/<dataset>``).
        dataset: dataset name, written in the issues CSV and the summary line.
        cfg: ``min_seconds``, ``strict`` (params ``verify``) and the dataset's layout (params
            ``verify.layouts.<dataset>``): optional ``channels`` (expected audio channels,
            default 2 = binaural), ``audio_dir`` (default ``binaural_audios``), ``video_dir``
            (default ``videos``), ``curation`` (FOA curation test, see :func:`check_clip`).
        manifest_out: ``data/manifests/<dataset>.csv`` (columns :data:`MANIFEST_COLUMNS`).
        issues_out: ``reports/data_issues/<dataset>.csv`` (columns :data:`ISSUE_COLUMNS`, header even when
            empty); rows of other datasets already in it are kept.
        progress: show a tqdm bar on stderr.
    Returns:
        the manifest as a DataFrame.
    Raises:
        DataIssueError: strict mode and a bad clip (naming its file and the reason), a broken
            dataset listing, or no usable clip at all.
    """
    raw_dir = Path(raw_dir)
    manifest_out, issues_out = Path(manifest_out), Path(issues_out)
    min_seconds = float(cfg["min_seconds"])
    strict = bool(cfg.get("strict", False))
    layout = {
        "channels": int(cfg.get("channels", 2)),
        "audio_dir": str(cfg.get("audio_dir", AUDIO_DIR)),
        "video_dir": str(cfg.get("video_dir", VIDEO_DIR)),
        "curation": cfg.get("curation") or None,
    }
    if not raw_dir.is_dir():
        raise DataIssueError(raw_dir, "raw dataset directory not found")

    clip_ids = list_clips(raw_dir)
    rows, issues = _check_clips(raw_dir, dataset, clip_ids, min_seconds, layout, strict, progress, workers)
    issues += download_issues(raw_dir, dataset) + unused_file_issues(raw_dir, dataset, layout)
    issues_df = pd.DataFrame(issues, columns=ISSUE_COLUMNS)
    _write_csv(_merge_issues(issues_out, dataset, issues_df), issues_out)
    n_bad = len(clip_ids) - len(rows)
    if not rows:
        raise DataIssueError(
            raw_dir,
            f"no usable clip: {len(clip_ids)} listed, all excluded (reasons in {issues_out})"
            if clip_ids
            else "no clips found (empty dataset.json or videos/)",
        )
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    _write_csv(manifest, manifest_out)
    print(f"verify {dataset}: {len(rows)} clips ok, {n_bad} excluded -> {issues_out}")
    return manifest


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest CSV with the right types (ids as strings, missing meta as ``None``).

    Raises:
        DataIssueError: file missing or unreadable, or a column missing.
    """
    path = Path(path)
    if not path.is_file():
        raise DataIssueError(path, "manifest not found (run the verify step first)")
    try:
        df = pd.read_csv(path, dtype={c: str for c in STRING_COLUMNS}, keep_default_na=False)
    except Exception as exc:
        raise DataIssueError(path, f"unreadable manifest ({exc})") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise DataIssueError(path, f"manifest lacks column(s) {', '.join(missing)}")
    try:
        for c in INT_COLUMNS:
            df[c] = df[c].astype("int64")
        for c in FLOAT_COLUMNS:
            df[c] = df[c].astype("float64")
    except (TypeError, ValueError) as exc:
        raise DataIssueError(path, f"bad value in manifest ({exc})") from None
    df["meta"] = pd.Series([m if m else None for m in df["meta"]], index=df.index, dtype=object)
    return df[MANIFEST_COLUMNS + [c for c in df.columns if c not in MANIFEST_COLUMNS]]
