"""Output faults by injection: a full disk under any writer (json, wav, torch checkpoint, a whole
directory) is one "no space left on device: PATH" with nothing half-written, and every file and
directory the atomic writers create has the mode the umask gives a new one (not mkstemp's 0600)."""

from __future__ import annotations

import errno
import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import avrepro.io as aio
from avrepro.data.sources import _clips
from avrepro.engine.checkpoint import save_checkpoint
from avrepro.io import NoSpaceError, atomic_dir, write_json
from avrepro.media import open_media, write_mp4, write_wav

TORCH_SHORT_WRITE = "[enforce fail at inline_container.cc:672] . unexpected pos 61140736 vs 61140624"


def half_write_then(exc: BaseException):
    """A stand-in writer: writes a few bytes to its target, then fails like a full disk."""

    def write(*args, **kwargs):
        # torch: (obj, path or open file); soundfile: (path, data)
        target = next(a for a in args if isinstance(a, (str, Path)) or hasattr(a, "write"))
        if hasattr(target, "write"):
            target.write(b"half")
        else:
            Path(target).write_bytes(b"half")
        raise exc

    return write


def disk_full(monkeypatch) -> None:
    """The file system reports no free space (what a short write leaves behind)."""
    monkeypatch.setattr(aio, "_free_bytes", lambda directory: 0)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_json_on_a_full_disk(tmp_path, monkeypatch):
    target = tmp_path / "reports" / "metrics.json"
    write_json(target, {"old": 1})

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(NoSpaceError) as err:
        write_json(target, {"new": 2})
    assert str(err.value) == f"no space left on device: {target}"
    assert isinstance(err.value, OSError) and err.value.errno == errno.ENOSPC
    assert err.value.filename == str(target)
    monkeypatch.undo()
    assert target.read_text() == '{\n  "old": 1\n}\n' and leftovers(target.parent) == []


def test_wav_on_a_full_disk(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    write_wav(target, np.zeros((2, 160), np.float32), 16000)
    before = target.read_bytes()
    monkeypatch.setattr(sf, "write", half_write_then(sf.LibsndfileError(2, "")))
    with pytest.raises(sf.LibsndfileError):  # plenty of space: the error is not disguised
        write_wav(target, np.ones((2, 160), np.float32), 16000)
    disk_full(monkeypatch)
    with pytest.raises(NoSpaceError, match=f"^no space left on device: {target}$") as err:
        write_wav(target, np.ones((2, 160), np.float32), 16000)
    assert isinstance(err.value.__cause__, sf.LibsndfileError)  # the original stays in the traceback
    assert target.read_bytes() == before and leftovers(tmp_path) == []


def test_checkpoint_on_a_full_disk(tmp_path, monkeypatch):
    target = tmp_path / "models" / "best.pt"
    save_checkpoint(target, {"step": 1})
    monkeypatch.setattr(torch, "save", half_write_then(RuntimeError(TORCH_SHORT_WRITE)))
    with pytest.raises(RuntimeError, match="unexpected pos"):
        save_checkpoint(target, {"step": 2})
    disk_full(monkeypatch)
    with pytest.raises(NoSpaceError, match=f"^no space left on device: {target}$"):
        save_checkpoint(target, {"step": 2})
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"step": 1} and leftovers(target.parent) == []


def test_checkpoint_whose_enospc_is_in_the_context(tmp_path, monkeypatch):
    """torch.save raises "unexpected pos" while handling the write's ENOSPC; by the time it is
    caught, other writers may have freed space again, so the chain alone must name it."""
    target = tmp_path / "best.pt"

    def short_write(state, fh):
        fh.write(b"half")
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError(TORCH_SHORT_WRITE)  # noqa: B904 (torch chains implicitly)

    monkeypatch.setattr(torch, "save", short_write)
    with pytest.raises(NoSpaceError, match=f"^no space left on device: {target}$") as err:
        save_checkpoint(target, {"step": 1})
    assert "unexpected pos" in str(err.value.__cause__) and leftovers(tmp_path) == []


def test_directory_and_quota_and_pickling(tmp_path, monkeypatch):
    out = tmp_path / "data" / "raw"
    with atomic_dir(out) as tmp:
        (tmp / "kept.txt").write_text("old")
    with pytest.raises(NoSpaceError, match=f"^no space left on device: {out}$"), atomic_dir(out) as tmp:
        write_json(tmp / "sub" / "a.json", {})
        raise OSError(errno.ENOSPC, "No space left on device")
    assert sorted(p.name for p in out.parent.iterdir()) == ["raw"] and (out / "kept.txt").read_text() == "old"
    with pytest.raises(NoSpaceError, match=f"^disk quota exceeded: {out}") as err, atomic_dir(out):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert err.value.errno == errno.EDQUOT
    copy = pickle.loads(pickle.dumps(NoSpaceError(out)))  # crosses a process pool intact
    assert str(copy) == f"no space left on device: {out}" and copy.errno == errno.ENOSPC


def test_a_full_disk_stops_a_conversion_and_passes_media_readers(tmp_path, monkeypatch):
    video = tmp_path / "in.mp4"
    write_mp4(video, np.zeros((2, 16, 16, 3), np.uint8), 10)
    # not disguised as an unreadable video
    with pytest.raises(NoSpaceError), open_media(video, "not a readable video"):
        raise NoSpaceError(tmp_path / "out.mp4")

    def convert_on_a_full_disk(*args):
        raise NoSpaceError("raw/binaural_audios/a.wav")

    monkeypatch.setattr(_clips, "convert_clip", convert_on_a_full_disk)
    with pytest.raises(NoSpaceError):  # not one "not converted" row per clip
        _clips.convert_clips([("a", video, video, None)], tmp_path / "raw", {}, progress=False)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077], ids=["022", "002", "077"])
def test_outputs_get_the_umask_mode(tmp_path, mask):
    old = os.umask(mask)
    aio.umask.cache_clear()
    try:
        assert aio.umask() == mask
        write_json(tmp_path / "a.json", {})
        write_wav(tmp_path / "a.wav", np.zeros((1, 16), np.float32), 16000)
        save_checkpoint(tmp_path / "m" / "best.pt", {"x": 1})
        with atomic_dir(tmp_path / "d") as tmp:
            write_json(tmp / "inner.json", {})
    finally:
        os.umask(old)
        aio.umask.cache_clear()
    mode = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    files, dirs = 0o666 & ~mask, 0o777 & ~mask
    assert mode == {
        "a.json": files,
        "a.wav": files,
        "m": dirs,
        "m/best.pt": files,
        "d": dirs,
        "d/inner.json": files,
        "d/.contents.json": files,
    }
