"""Process control around Snakemake: kills that lose nothing.

- A job ends when the Snakemake that started it is gone. The rules' shell prefix
  (``workflow/rules/common.smk``) names Snakemake's process in ``AVREPRO_SNAKEMAKE_PID``; every
  ``avrepro`` command started with it watches that process (:func:`watch_snakemake`) and, once it
  has died (``kill -9`` of Snakemake alone), stops itself the way Ctrl-C would: temporary files
  are removed, published outputs stay whole, and training's ``.partial/`` checkpoint is kept for
  the rerun to resume from. No orphan keeps writing into a tree a new run is rebuilding.
- A lock left by a killed Snakemake is removed only when no Snakemake process runs in the
  working directory (:func:`remove_stale_lock`, ``avrepro unlock-stale``, called by ``make repro``).

Linux ``/proc`` is read for process start times, command lines and working directories; where it
is absent both functions do nothing.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from pathlib import Path

SNAKEMAKE_PID_ENV = "AVREPRO_SNAKEMAKE_PID"
POLL_SECONDS = 1.0
GRACE_SECONDS = 60.0  # after the interrupt, the job exits on its own or is ended here


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), which
    tells a live process from a later one that reuses its number; ``None`` when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def watch_snakemake(environ=None, poll: float = POLL_SECONDS) -> threading.Thread | None:
    """Start a daemon thread that interrupts this process when the Snakemake named in
    ``AVREPRO_SNAKEMAKE_PID`` is gone; ``None`` when the variable is unset or that process is
    already gone or unreadable (then there is nothing to watch)."""
    value = (os.environ if environ is None else environ).get(SNAKEMAKE_PID_ENV, "")
    if not value.isdigit():
        return None
    pid = int(value)
    born = start_time(pid)
    if born is None:
        return None
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
        # Snakemake started in the background (`nohup`, `&`) passes SIGINT on ignored, which would
        # make the interrupt below do nothing: restore Python's Ctrl-C (KeyboardInterrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    thread = threading.Thread(target=_watch, args=(pid, born, poll), name="snakemake-watch", daemon=True)
    thread.start()
    return thread


def _watch(pid: int, born: str, poll: float) -> None:
    while start_time(pid) == born:
        time.sleep(poll)
    print(
        f"avrepro: Snakemake (pid {pid}) is gone; stopping this job (a rerun resumes from its "
        "last checkpoint)",
        file=sys.stderr,
        flush=True,
    )
    _thread.interrupt_main()
    time.sleep(GRACE_SECONDS)
    os._exit(130)


def processes_in(workdir: str | Path, match) -> list[int]:
    """Live processes (but this one) working in ``workdir`` whose argument list (strings)
    satisfies ``match``."""
    workdir = Path(workdir).resolve()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")]
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == workdir and int(entry.name) != os.getpid() and match(argv):
            found.append(int(entry.name))
    return sorted(found)


def snakemake_processes(workdir: str | Path) -> list[int]:
    """Live Snakemake processes working in ``workdir``: ``snakemake ...``,
    ``python .../bin/snakemake ...`` or ``python -m snakemake ...``."""
    return processes_in(workdir, lambda argv: any(Path(a).name == "snakemake" for a in argv[:4]))


def remove_stale_lock(workdir: str | Path = ".") -> list[Path]:
    """Remove Snakemake's lock files in ``workdir`` when no Snakemake process runs there (what
    ``snakemake --unlock`` does, made safe); return the files removed."""
    locks = sorted((Path(workdir) / ".snakemake" / "locks").glob("*.lock"))
    if not locks or not Path("/proc/self").exists() or snakemake_processes(workdir):
        return []
    for lock in locks:
        lock.unlink(missing_ok=True)
    return locks
