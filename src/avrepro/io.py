"""Atomic file output: a killed job never leaves a file that looks complete.

What the writers create gets the mode the user's umask gives any new file or directory (not the
0600/0700 of a private temporary file), so colleagues on a shared file system can read the outputs.
A full disk (or quota) while writing is one :class:`NoSpaceError` naming the final path; the
temporary file is removed and an older file at that path is left untouched.

A folder output carries a record of its files (:data:`CONTENTS`, written by :func:`atomic_dir` and
:func:`record_contents`) so that a file later deleted from it is seen (:func:`missing_contents`):
Snakemake checks only that a folder exists.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
#: a write that failed with less free space than this on its file system ran out of it (soundfile
#: says "System error." and keeps no errno)
NEARLY_FULL_BYTES = 1 << 20


class NoSpaceError(OSError):
    """The disk (or the user's quota) filled up while writing ``path``.

    ``str(err)`` is ``no space left on device: <path>`` (``disk quota exceeded: <path>`` for
    EDQUOT); ``err.errno`` is ENOSPC (or EDQUOT) and ``err.filename`` the path.
    """

    def __init__(self, path: str | Path, code: int = errno.ENOSPC):
        reason = "disk quota exceeded" if code == errno.EDQUOT else "no space left on device"
        super().__init__(code, reason, str(path))

    def __str__(self) -> str:
        return f"{self.strerror}: {self.filename}"

    def __reduce__(self):  # survives a process pool's pickling
        return type(self), (self.filename, self.errno)


@functools.cache
def umask() -> int:
    """The process's umask, read once: from ``/proc/self/status`` where Linux gives it (nothing
    changes), else by setting it and putting it straight back."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode a new file gets from the umask (``0o666 & ~umask``: 0644 under umask 022)."""
    return 0o666 & ~umask()


def new_dir_mode() -> int:
    """The mode a new directory gets from the umask (``0o777 & ~umask``: 0755 under umask 022)."""
    return 0o777 & ~umask()


def _free_bytes(directory: Path) -> int:
    """Bytes an unprivileged write may still use on ``directory``'s file system (huge if unknown)."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return 1 << 62
    return stat.f_bavail * stat.f_frsize


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, newest first."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def as_no_space(exc: BaseException, path: Path) -> NoSpaceError | None:
    """``exc`` as a :class:`NoSpaceError` for ``path`` when the disk ran full, else ``None``: an
    ENOSPC/EDQUOT OSError anywhere in its chain (torch.save's "unexpected pos" RuntimeError is
    raised while handling one), or any other failure while the file system of ``path`` is (nearly)
    full (libsndfile loses the errno; by the check, other writers may have freed space again)."""
    if isinstance(exc, NoSpaceError):
        return exc if exc.filename == str(path) else NoSpaceError(path, exc.errno)
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in NO_SPACE_ERRNOS:
            return NoSpaceError(path, link.errno)
    if isinstance(exc, Exception) and _free_bytes(path.parent) < NEARLY_FULL_BYTES:
        return NoSpaceError(path)
    return None


@contextlib.contextmanager
def _no_space_named(path: Path) -> Iterator[None]:
    """A full disk inside the block becomes :class:`NoSpaceError` naming ``path``."""
    try:
        yield
    except Exception as exc:
        err = as_no_space(exc, path)
        if err is None or err is exc:
            raise
        raise err from exc


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the file's suffix (``.x.tmp123.wav``) so libraries that pick a
    format from the extension still work. The file gets the umask's mode (:func:`new_file_mode`).

    Raises:
        NoSpaceError: the disk filled up (the temporary file is removed, ``path`` untouched).
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    with _no_space_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}", dir=path.parent)
        os.close(fd)
    tmp = Path(tmp)
    try:
        with _no_space_named(path):
            yield tmp
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; it replaces ``path`` if the block succeeds.

    The directory gets the umask's mode (:func:`new_dir_mode`).

    Raises:
        NoSpaceError: the disk filled up (the temporary directory is removed, ``path`` untouched).
    """
    path = Path(path)
    with _no_space_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        os.chmod(tmp, new_dir_mode())
        with _no_space_named(path):
            yield tmp
            record_contents(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


RESUME_DIR = ".resume"  # inside a staging folder: what a resumed build already did


@contextlib.contextmanager
def resumable_dir(path: str | Path, staging: str | Path, key: str) -> Iterator[Path]:
    """Build ``path`` in ``staging``, a folder that survives a kill: a rerun with the same ``key``
    (e.g. a digest of the configuration) finds what the killed run wrote there (and its notes
    under ``staging/.resume/``); another key starts afresh. When the block succeeds, the notes are
    removed and ``staging`` replaces ``path`` whole.

    Raises:
        NoSpaceError: the disk filled up (``staging`` is kept for the rerun, ``path`` untouched).
    """
    path, staging = Path(path), Path(staging)
    stamp = staging / RESUME_DIR / "key"
    if staging.exists() and not (stamp.is_file() and stamp.read_text() == key):
        shutil.rmtree(staging)
    with _no_space_named(path):
        stamp.parent.mkdir(parents=True, exist_ok=True)
        write_text(stamp, key)
        yield staging
        shutil.rmtree(staging / RESUME_DIR)
        record_contents(staging)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            shutil.rmtree(path)
        shutil.move(str(staging), str(path))  # a rename on one file system


#: the record of a folder output's files, inside it: ``{relative path: size in bytes}``
CONTENTS = ".contents.json"
#: files in a folder output that are not part of its contents (Snakemake's own marker)
NOT_CONTENTS = (CONTENTS, ".snakemake_timestamp")


def _folder_files(folder: Path) -> dict[str, int]:
    """``{relative path: size}`` of every file under ``folder``, sorted, records left out."""
    files = (p for p in folder.rglob("*") if p.is_file() and p.name not in NOT_CONTENTS)
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(files)}


def record_contents(folder: str | Path) -> None:
    """Write ``folder``'s record of its files (:data:`CONTENTS`), atomically."""
    folder = Path(folder)
    write_text(folder / CONTENTS, json.dumps(_folder_files(folder), indent=0) + "\n")


def missing_contents(folder: str | Path) -> list[str]:
    """The files of ``folder``'s record that are gone or changed size (``"name (missing)"``,
    ``"name (size changed)"``); empty when all are there, or when ``folder`` or its record is
    absent (nothing to compare with)."""
    record = Path(folder) / CONTENTS
    try:
        expected = json.loads(record.read_text())
    except (OSError, ValueError):
        return []
    damage = []
    for name, size in expected.items():
        path = record.parent / name
        if not path.is_file():
            damage.append(f"{name} (missing)")
        elif path.stat().st_size != size:
            damage.append(f"{name} (size changed)")
    return damage


def write_text(path: str | Path, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (sorted keys, indented, trailing newline)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file with an error that names the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
