"""FAIR-Play (Gao & Grauman, CVPR 2019): 1,871 clips of 10 s recorded in one music room.

The authors' server holds ``videos.tar.gz`` (~106 GB), ``audios.tar.gz`` (~3.2 GB) and
``splits.tar.gz`` under one base URL. Unpacked::

    videos/000001.mp4            binaural_audios/000001.wav (48 kHz stereo)
    splits/split1..10/{train,val,test}.h5     h5 dataset ``audio``: absolute wav paths
                                              on the authors' machines

:func:`fetch` downloads the archives (resumable, checksummed where ``sha256``/``md5`` are given,
kept in ``downloads_dir`` so a rerun does not fetch them again), extracts them safely, converts
every clip into the raw layout (audio resampled to ``sample_rate``, video at ``fps`` and at most
``frame_width`` x ``frame_height``) and copies the split files to ``<out>/splits/`` unchanged.
:func:`read_h5_split` and :func:`reroot` read those files and map their paths to local clips.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin

from avrepro.data.download import download, file_digest, safe_extract
from avrepro.data.sources._clips import convert_clips, copy_splits, pair_clips, write_report
from avrepro.io import atomic_dir, write_json

NAME = "fairplay"
AUDIO_DIRS = ("binaural_audios", "audios")
MEDIA_EXTENSIONS = ("wav", "mp4", "m4a", "flac", "mkv", "webm", "jpg")


def read_h5_split(path: str | Path) -> list[str]:
    """The wav paths listed in an official FAIR-Play split file (h5 dataset ``audio``).

    Raises:
        ValueError: the file is not HDF5 or has no ``audio`` dataset (the message names it).
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            if "audio" not in h5:
                raise ValueError(f"{path}: no 'audio' dataset (found: {', '.join(h5.keys()) or 'none'})")
            values = h5["audio"][()]
    except OSError as exc:
        raise ValueError(f"{path}: not a readable HDF5 split file ({exc})") from None
    if not hasattr(values, "__iter__") or isinstance(values, (bytes, str)):
        values = [values]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def reroot(paths: list[str]) -> list[str]:
    """Clip ids of split paths from any machine (``/x/y/binaural_audios/000001.wav`` -> ``000001``)."""
    ids = []
    for p in paths:
        name = PurePosixPath(p.strip().replace("\\", "/")).name
        stem, dot, ext = name.rpartition(".")
        if name:
            ids.append(stem if dot and ext.lower() in MEDIA_EXTENSIONS else name)
    return ids


def find_dir(root: Path, names: tuple[str, ...], max_depth: int = 3) -> Path | None:
    """The shallowest directory under ``root`` named one of ``names`` (archives differ in nesting)."""
    level = [root]
    for _ in range(max_depth + 1):
        for name in names:
            for d in level:
                if (d / name).is_dir():
                    return d / name
        level = [c for d in level for c in sorted(d.iterdir()) if c.is_dir() and not c.name.startswith(".")]
    return None


def convert_folder(
    src: Path,
    out_dir: Path,
    cfg: Mapping[str, Any],
    name: str,
    workers: int = 1,
    progress: bool = True,
    extra: Mapping[str, Any] | None = None,
    audio_dirs: tuple[str, ...] = AUDIO_DIRS,
    channels: int | None = None,
    clip_meta: Callable[[str, Path, Path], dict] | None = None,
    layout: str = "the FAIR-Play layout",
) -> dict:
    """Convert a folder in the FAIR-Play layout (``videos/``, ``binaural_audios/``, optional
    ``splits/``) into the raw layout at ``out_dir`` (written atomically).

    Other layouts of paired files: ``audio_dirs`` (the first is the converted one's name),
    ``channels`` the sound must have, ``clip_meta(clip, video, audio)`` extra meta of a clip,
    ``layout`` its name in the error for a folder without them."""
    videos = find_dir(src, ("videos",))
    audios = find_dir(src, audio_dirs)
    if videos is None or audios is None:
        found = ", ".join(sorted(p.name for p in src.iterdir())) or "nothing"
        raise FileNotFoundError(f"{src}: not in {layout}: need videos/ and {audio_dirs[0]}/ (found: {found})")
    pairs, issues = pair_clips(videos, audios)
    if cfg.get("max_clips"):
        pairs = pairs[: int(cfg["max_clips"])]
    with atomic_dir(out_dir) as tmp:
        jobs = [
            (c, v, a, {"group": c, "source": name, **(clip_meta(c, v, a) if clip_meta else {})})
            for c, v, a in pairs
        ]
        done, conv_issues = convert_clips(
            jobs,
            tmp,
            cfg,
            audio_dirs[0],
            channels,
            workers=workers,
            progress=progress,
            desc=f"convert {name}",
        )
        issues += conv_issues
        splits = copy_splits(find_dir(src, ("splits",)), tmp / "splits")
        write_report(tmp, issues)
        write_json(tmp / "dataset.json", {"name": name, "clips": done, "splits": splits, **dict(extra or {})})
    summary = {"dataset": name, "clips": len(done), "not_converted": len(issues), "splits": splits}
    print(
        f"{name}: {len(done)} clips converted, {len(issues)} not (see {out_dir / 'download_report.csv'}); "
        f"official splits: {', '.join(splits) or 'none'}"
    )
    return summary


def _archive_sha256(path: Path, known: str | None = None) -> str:
    """sha256 of a downloaded archive, cached beside it (keyed by size and mtime)."""
    cache = path.with_name(f".{path.name}.sha256")
    sig = f"{path.stat().st_size} {path.stat().st_mtime_ns}"
    if cache.is_file():
        parts = cache.read_text().split()
        if len(parts) == 3 and " ".join(parts[:2]) == sig:
            return parts[2]
    digest = known.lower() if known else file_digest(path)
    cache.write_text(f"{sig} {digest}")
    return digest


def fetch(
    cfg: Mapping[str, Any], out_dir: Path, downloads_dir: Path, workers: int = 1, progress: bool = True
) -> dict:
    """Download, extract and convert FAIR-Play (params ``datasets.fairplay``)."""
    base = str(cfg["base_url"])
    base = base if base.endswith("/") else base + "/"
    downloads_dir = Path(downloads_dir)
    extracted = downloads_dir / "extracted"
    digests = {}
    for archive in cfg["archives"]:
        expected = (cfg.get("sha256") or {}).get(archive)
        path = download(
            urljoin(base, archive),
            downloads_dir / archive,
            sha256=expected,
            md5=(cfg.get("md5") or {}).get(archive),
            progress=progress,
        )
        digests[archive] = _archive_sha256(path, expected)
        stamp = extracted / f".{archive}.extracted"
        if not (stamp.is_file() and stamp.read_text() == digests[archive]):
            safe_extract(path, extracted, progress=progress)
            stamp.write_text(digests[archive])
    # dataset.json records what was converted: pin these digests in datasets.fairplay.sha256
    summary = convert_folder(
        extracted,
        Path(out_dir),
        cfg,
        NAME,
        workers=workers,
        progress=progress,
        extra={"source": base, "archives_sha256": digests},
    )
    if not cfg.get("keep_archives", True):
        shutil.rmtree(downloads_dir, ignore_errors=True)
    return summary
