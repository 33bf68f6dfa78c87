"""download: resumable (HTTP Range), checksummed, atomic; safe archive extraction."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile

import pytest

from avrepro.data.download import DownloadError, UnsafeArchiveError, download, safe_extract
from helpers.fileserver import FileServer

DATA = os.urandom(3 * 1024 * 1024 + 12345)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture()
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "blob.bin").write_bytes(DATA)
    with FileServer(root) as server:
        yield server


def test_cut_connection_resumes_byte_identical(served, tmp_path):
    served.cut_once["/blob.bin"] = 1_000_003
    dest = download(
        served.url + "blob.bin",
        tmp_path / "out" / "blob.bin",
        sha256=SHA,
        backoff=0,
        progress=False,
        chunk=64 * 1024,
    )
    assert dest.read_bytes() == DATA
    assert [r for _, r in served.requests] == [None, "bytes=1000003-"]
    assert not list(dest.parent.glob("*.part*"))


@pytest.mark.parametrize("cut", [0, 1, 65536, len(DATA) // 2, len(DATA) - 1, len(DATA)])
def test_killed_at_any_byte_then_restarted(served, tmp_path, cut):
    # a previous job left a .part file of `cut` bytes (killed before the rename)
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(DATA[:cut])
    download(served.url + "blob.bin", dest, sha256=SHA, backoff=0, progress=False)
    assert dest.read_bytes() == DATA
    assert not (tmp_path / "blob.bin.part").exists()


def test_server_without_range_support_restarts_from_zero(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "blob.bin").write_bytes(DATA)
    with FileServer(root, ranges=False) as server:
        server.cut_once["/blob.bin"] = 500_000
        dest = download(server.url + "blob.bin", tmp_path / "blob.bin", sha256=SHA, backoff=0, progress=False)
    assert dest.read_bytes() == DATA


def test_file_changed_on_server_is_fetched_again(served, tmp_path):
    # a .part file left by a job that fetched an older version (its ETag recorded beside it)
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(os.urandom(100_000))
    (tmp_path / "blob.bin.part.json").write_text(
        json.dumps({"url": served.url + "blob.bin", "etag": '"old-version"'})
    )
    download(served.url + "blob.bin", dest, sha256=SHA, backoff=0, progress=False)
    assert dest.read_bytes() == DATA
    assert served.requests == [("/blob.bin", "bytes=100000-")]  # If-Range mismatch: whole file


def test_checksum_mismatch_fails_and_leaves_nothing(served, tmp_path):
    dest = tmp_path / "blob.bin"
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download(served.url + "blob.bin", dest, sha256="0" * 64, progress=False)
    assert not dest.exists() and not (tmp_path / "blob.bin.part").exists()
    with pytest.raises(DownloadError, match="md5 mismatch"):
        download(served.url + "blob.bin", dest, md5="0" * 32, progress=False)
    download(served.url + "blob.bin", dest, md5=hashlib.md5(DATA).hexdigest(), progress=False)
    assert dest.read_bytes() == DATA


def test_existing_verified_file_is_not_fetched_again(served, tmp_path):
    dest = tmp_path / "blob.bin"
    download(served.url + "blob.bin", dest, sha256=SHA, progress=False)
    n = len(served.requests)
    download(served.url + "blob.bin", dest, sha256=SHA, progress=False)
    assert len(served.requests) == n


def test_http_404_names_the_url(served, tmp_path):
    with pytest.raises(DownloadError, match=r"missing\.bin: HTTP 404"):
        download(served.url + "missing.bin", tmp_path / "x", progress=False)


# --- extraction ---------------------------------------------------------------------------------


def make_tar(path, entries):
    """entries: (name, bytes | None for a dir | ("sym" | "lnk", target))."""
    with tarfile.open(path, "w:gz") as tf:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif isinstance(content, tuple):
                info.type = tarfile.SYMTYPE if content[0] == "sym" else tarfile.LNKTYPE
                info.linkname = content[1]
                tf.addfile(info)
            else:
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


def test_tar_extracts(tmp_path):
    arc = make_tar(
        tmp_path / "ok.tar.gz",
        [("videos", None), ("videos/000001.mp4", b"abc"), ("videos/link.mp4", ("sym", "000001.mp4"))],
    )
    names = safe_extract(arc, tmp_path / "out", progress=False)
    assert (tmp_path / "out/videos/000001.mp4").read_bytes() == b"abc"
    assert "videos/000001.mp4" in names


@pytest.mark.parametrize(
    "entry, reason",
    [
        (("../evil", b"x"), "outside the target folder"),
        (("videos/../../evil", b"x"), "outside the target folder"),
        (("/etc/evil", b"x"), "absolute path"),
        (("videos/out", ("sym", "../../outside")), "symbolic link pointing outside"),
        (("videos/abs", ("sym", "/etc/passwd")), "symbolic link to an absolute path"),
        (("videos/hard", ("lnk", "../outside")), "hard link pointing outside"),
    ],
)
def test_tar_with_an_entry_outside_is_refused(tmp_path, entry, reason):
    arc = make_tar(tmp_path / "bad.tar.gz", [("videos/000001.mp4", b"abc"), entry])
    with pytest.raises(UnsafeArchiveError, match=reason) as info:
        safe_extract(arc, tmp_path / "out", progress=False)
    assert "bad.tar.gz" in str(info.value) and entry[0] in str(info.value)
    # checked before anything is written
    assert not (tmp_path / "out" / "videos").exists()
    assert not (tmp_path / "evil").exists()


def test_tar_writing_through_its_own_outward_symlink_is_refused(tmp_path):
    (tmp_path / "outside").mkdir()
    arc = make_tar(tmp_path / "bad.tar.gz", [("d", ("sym", "..")), ("d/x", b"x")])
    with pytest.raises(UnsafeArchiveError):
        safe_extract(arc, tmp_path / "out", progress=False)


def test_zip_with_dotdot_is_refused(tmp_path):
    arc = tmp_path / "bad.zip"
    with zipfile.ZipFile(arc, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../evil.txt", "bad")
    with pytest.raises(UnsafeArchiveError, match=r"bad\.zip: refusing entry '\.\./evil\.txt'"):
        safe_extract(arc, tmp_path / "out", progress=False)
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("a/b.txt", "fine")
    safe_extract(good, tmp_path / "out", progress=False)
    assert (tmp_path / "out/a/b.txt").read_text() == "fine"


def test_not_an_archive(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(DownloadError, match="not a tar or zip"):
        safe_extract(tmp_path / "x.tar.gz", tmp_path / "out", progress=False)


def test_unreachable_server_gives_up_with_a_resume_hint(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=r"giving up after 2 attempts.*rerun to resume"):
        download(
            f"http://127.0.0.1:{port}/x.bin",
            tmp_path / "x.bin",
            retries=2,
            backoff=0,
            progress=False,
            timeout=2,
        )
