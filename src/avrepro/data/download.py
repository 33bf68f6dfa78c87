"""Resumable, checksummed, atomic HTTP downloads and safe archive extraction (standard library).

:func:`download` writes ``<dest>.part`` and asks the server for the missing bytes with an HTTP
``Range`` header (guarded by ``If-Range`` with the first response's ETag or Last-Modified, so a
file that changed on the server is fetched again from byte 0 instead of being spliced). A cut
connection is retried from where it stopped; a job killed at any byte resumes from the ``.part``
file on the next call. The checksum (sha256 and/or md5, where given) is checked before the
``.part`` file is renamed onto ``dest``, so ``dest`` exists only complete and verified.

:func:`safe_extract` unpacks a tar (any compression) or zip archive and refuses, before writing
anything, every entry that would land outside the target folder: ``../`` components, absolute
paths, and symbolic or hard links that point out of it; device files and FIFOs are refused too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path, PurePosixPath

from tqdm import tqdm

CHUNK = 1 << 20
USER_AGENT = "avrepro-download/1"
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


class DownloadError(ValueError):
    """A download failed for good (HTTP error, retries exhausted, checksum mismatch)."""


class UnsafeArchiveError(ValueError):
    """An archive entry would be written outside the target folder; names archive and entry."""

    def __init__(self, archive: str | Path, entry: str, reason: str):
        self.archive, self.entry, self.reason = str(archive), entry, reason
        super().__init__(f"{archive}: refusing entry {entry!r}: {reason}")


# ---------------------------------------------------------------------------------------------
# checksums


def file_digest(path: str | Path, algorithm: str = "sha256", chunk: int = CHUNK) -> str:
    """Hex digest of a file (read in chunks)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_checksums(
    path: str | Path, sha256: str | None = None, md5: str | None = None, what: str | None = None
) -> None:
    """Raise :class:`DownloadError` when a given digest does not match the file."""
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if not expected:
            continue
        got = file_digest(path, algorithm)
        if got.lower() != expected.strip().lower():
            raise DownloadError(f"{what or path}: {algorithm} mismatch: expected {expected}, got {got}")


# ---------------------------------------------------------------------------------------------
# download


def _validator_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_validator(part: Path) -> dict:
    try:
        obj = json.loads(_validator_path(part).read_text())
        return obj if isinstance(obj, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_validator(part: Path, url: str, headers) -> None:
    obj = {"url": url, "etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")}
    _validator_path(part).write_text(json.dumps(obj))


def _total_from(resp, offset: int) -> int | None:
    status = getattr(resp, "status", None) or 200
    if status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if m and m.group(3) != "*":
            return int(m.group(3))
        return None
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


#: HTTP statuses worth another attempt (the rest fail the download at once)
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
#: errors of one attempt that a later attempt may not meet (a cut connection, a timeout)
TRANSIENT_ERRORS = (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError, OSError)


@dataclass
class _Transfer:
    """One download's state across its attempts."""

    url: str
    part: Path
    validator: dict
    bar: tqdm
    timeout: float
    chunk: int
    max_restarts: int
    total: int | None = None
    restarts: int = 0
    got_bytes: bool = False


def _verified_dest(dest: Path, sha256: str | None, md5: str | None) -> bool:
    """True when ``dest`` exists and matches the digests; a stale or corrupt copy is deleted."""
    if not dest.is_file():
        return False
    try:
        verify_checksums(dest, sha256, md5, what=dest)
        return True
    except DownloadError:
        dest.unlink()  # a stale or corrupt copy: fetch again
        return False


def _resume_validator(part: Path, url: str) -> dict:
    """The validator of a ``.part`` file of ``url`` (``{}`` if none); a ``.part`` file of
    another URL is deleted."""
    validator = _read_validator(part) if part.exists() else {}
    if part.exists() and validator.get("url") not in (None, url):
        part.unlink()  # a partial file of another URL
        validator = {}
    return validator


def _resume_offset(t: _Transfer) -> int | None:
    """Where the next attempt starts (the ``.part`` file's size), or ``None`` when complete."""
    offset = t.part.stat().st_size if t.part.exists() else 0
    if t.total is not None and offset == t.total:
        return None
    if t.total is not None and offset > t.total:
        t.part.unlink()
        offset = 0
    return offset


def _request_headers(offset: int, validator: dict) -> dict:
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        # If-Range needs a strong validator: a weak ETag would make every resume a restart
        etag = validator.get("etag") or ""
        if_range = etag if etag and not etag.startswith("W/") else validator.get("last_modified")
        if if_range:
            headers["If-Range"] = if_range
    return headers


def _start_response(t: _Transfer, resp, offset: int) -> int:
    """Check the response against the requested ``offset``; return where its body starts."""
    status = getattr(resp, "status", None) or 200
    if offset and status != 206:
        # the server sent the whole file (no range support, or the file changed)
        t.restarts += 1
        if t.restarts > t.max_restarts:
            raise DownloadError(
                f"{t.url}: the connection keeps breaking and the server "
                f"does not resume (no HTTP range support); "
                f"gave up after {t.max_restarts} restarts"
            )
        offset = 0
    t.total = _total_from(resp, offset)
    if status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if not m or m.group(1) is None or int(m.group(1)) != offset:
            raise DownloadError(
                f"{t.url}: server answered range {offset}- with {resp.headers.get('Content-Range')!r}"
            )
    if not offset:
        _write_validator(t.part, t.url, resp.headers)
        t.validator = _read_validator(t.part)
    return offset


def _request(t: _Transfer, offset: int) -> None:
    """One request from ``offset``: append what the server sends to the ``.part`` file.

    Raises:
        ConnectionError: the body ended before the size the server announced.
    """
    req = urllib.request.Request(t.url, headers=_request_headers(offset, t.validator))
    with urllib.request.urlopen(req, timeout=t.timeout) as resp:
        offset = _start_response(t, resp, offset)
        t.bar.reset(total=t.total)
        t.bar.update(offset)
        with open(t.part, "ab" if offset else "wb") as fh:
            while True:
                block = resp.read(t.chunk)
                if not block:
                    break
                fh.write(block)
                t.got_bytes = True
                t.bar.update(len(block))
            fh.flush()
            os.fsync(fh.fileno())
    size = t.part.stat().st_size
    if t.total is None or size == t.total:
        t.total = size
        return
    raise ConnectionError(f"connection closed at byte {size} of {t.total}")


def _already_complete(exc: urllib.error.HTTPError, offset: int) -> bool:
    """A 416 answer to a resume says the ``.part`` file holds the whole file already."""
    m = _CONTENT_RANGE.match(exc.headers.get("Content-Range", "") if exc.headers else "")
    return bool(m and m.group(3) not in (None, "*") and int(m.group(3)) == offset)


def _fetch(t: _Transfer, retries: int, backoff: float) -> None:
    """Attempt until the ``.part`` file is complete; retry a cut connection from where it
    stopped, waiting (``backoff`` doubling, up to 30 s) after attempts that add no byte."""
    failures = 0
    while (offset := _resume_offset(t)) is not None:
        t.got_bytes = False
        try:
            _request(t, offset)
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                # nothing left to send: the .part file may be complete already
                if _already_complete(exc, offset):
                    t.total = offset
                    return
                t.part.unlink()
                continue
            if exc.code not in RETRY_STATUSES:
                raise DownloadError(f"{t.url}: HTTP {exc.code} {exc.reason}") from None
            err = exc
        except DownloadError:
            raise
        except TRANSIENT_ERRORS as exc:
            err = exc
        failures = 0 if t.got_bytes else failures + 1
        if failures >= retries:
            raise DownloadError(
                f"{t.url}: giving up after {retries} attempts without progress "
                f"({err.__class__.__name__}: {err}); rerun to resume from "
                f"{t.part}"
            ) from None
        if not t.got_bytes:
            time.sleep(min(30.0, backoff * 2 ** (failures - 1)))


def _publish(part: Path, dest: Path, sha256: str | None, md5: str | None, url: str) -> None:
    """Check the complete ``.part`` file's digests and rename it onto ``dest`` (deleted on a
    mismatch)."""
    try:
        verify_checksums(part, sha256, md5, what=url)
    except DownloadError:
        part.unlink()
        _validator_path(part).unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    _validator_path(part).unlink(missing_ok=True)


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    md5: str | None = None,
    retries: int = 8,
    timeout: float = 60.0,
    backoff: float = 1.0,
    progress: bool = True,
    chunk: int = CHUNK,
    max_restarts: int = 5,
) -> Path:
    """Fetch ``url`` to ``dest``, resuming ``<dest>.part`` when present.

    Args:
        url: http(s) or file URL.
        dest: final path; written only once complete and verified (atomic rename).
        sha256, md5: expected hex digests (``None``: not checked).
        retries: attempts in a row that add no byte before giving up.
        timeout: socket timeout in seconds.
        backoff: first wait between attempts in seconds (doubles, capped at 30 s).
        progress: tqdm bar (bytes) on stderr.
        max_restarts: how often a server that ignores ``Range`` may make us start again from 0.
    Returns:
        ``dest``.
    Raises:
        DownloadError: an HTTP error other than a cut connection, retries exhausted, or a
            checksum mismatch (the ``.part`` file is then deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if _verified_dest(dest, sha256, md5):
        return dest
    part = dest.with_name(dest.name + ".part")
    validator = _resume_validator(part, url)
    bar = tqdm(
        desc=dest.name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    with bar:
        _fetch(_Transfer(url, part, validator, bar, timeout, chunk, max_restarts), retries, backoff)
    _publish(part, dest, sha256, md5, url)
    return dest


# ---------------------------------------------------------------------------------------------
# extraction


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _check_name(archive: Path, name: str, root: Path) -> Path:
    if not name:
        raise UnsafeArchiveError(archive, name, "empty entry name")
    if "\x00" in name:
        raise UnsafeArchiveError(archive, name, "NUL byte in the entry name")
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise UnsafeArchiveError(archive, name, "absolute path")
    if ".." in posix.parts:
        raise UnsafeArchiveError(archive, name, "'..' component: it resolves outside the target folder")
    dest = Path(os.path.normpath(root / posix))
    if not _inside(root, dest):
        raise UnsafeArchiveError(archive, name, "resolves outside the target folder")
    # a path through a symlink already on disk (or extracted earlier) must stay inside too
    if not _inside(root.resolve(), dest.resolve()):
        raise UnsafeArchiveError(archive, name, "resolves outside the target folder through a symbolic link")
    return dest


def _check_tar_member(archive: Path, member: tarfile.TarInfo, root: Path, links: dict) -> None:
    dest = _check_name(archive, member.name, root)
    if member.issym():
        target = PurePosixPath(member.linkname)
        if target.is_absolute():
            raise UnsafeArchiveError(
                archive, member.name, f"symbolic link to an absolute path ({member.linkname})"
            )
        resolved = Path(os.path.normpath(dest.parent / target))
        if not _inside(root, resolved):
            raise UnsafeArchiveError(
                archive, member.name, f"symbolic link pointing outside the target folder ({member.linkname})"
            )
        links[os.path.normpath(dest)] = resolved
    elif member.islnk():
        target = PurePosixPath(member.linkname)
        resolved = Path(os.path.normpath(root / target))
        if target.is_absolute() or not _inside(root, resolved):
            raise UnsafeArchiveError(
                archive, member.name, f"hard link pointing outside the target folder ({member.linkname})"
            )
    elif not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(archive, member.name, "device file or FIFO")
    # an entry written through a symlink of the same archive must stay inside
    parent = os.path.normpath(dest.parent)
    while parent.startswith(str(root)) and parent != str(root):
        if parent in links and not _inside(root, links[parent]):
            raise UnsafeArchiveError(
                archive, member.name, "written through a symbolic link that points outside"
            )
        parent = os.path.dirname(parent)


def safe_extract(archive: str | Path, target: str | Path, progress: bool = True) -> list[str]:
    """Extract a tar (gz/bz2/xz/plain) or zip archive into ``target``; return the entry names.

    Every entry is checked before anything is written, so a refused archive leaves ``target``
    as it was.

    Raises:
        UnsafeArchiveError: an entry with an absolute path, a ``..`` component, a link pointing
            outside ``target``, or a device file; the message names the archive and the entry.
        DownloadError: not a tar or zip archive, or a corrupt one.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = Path(os.path.normpath(target.absolute()))
    names: list[str] = []
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                for info in infos:
                    _check_name(archive, info.filename, root)
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchiveError(archive, info.filename, "symbolic link in a zip archive")
                for info in tqdm(
                    infos,
                    desc=f"extract {archive.name}",
                    unit="file",
                    file=sys.stderr,
                    disable=not progress,
                    leave=False,
                ):
                    zf.extract(info, root)
                    names.append(info.filename)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                members = tf.getmembers()
                links: dict = {}
                for member in members:
                    _check_tar_member(archive, member, root, links)
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                for member in tqdm(
                    members,
                    desc=f"extract {archive.name}",
                    unit="file",
                    file=sys.stderr,
                    disable=not progress,
                    leave=False,
                ):
                    tf.extract(member, root, **kwargs)
                    names.append(member.name)
        else:
            raise DownloadError(f"{archive}: not a tar or zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise DownloadError(f"{archive}: corrupt archive ({exc.__class__.__name__}: {exc})") from None
    return names
