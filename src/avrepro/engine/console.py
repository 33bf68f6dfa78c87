"""What a training job tells the console: a line when it starts, one line per epoch (losses, best
validation loss, speed, ETA) and, in a long epoch, a line every few minutes.

The training rule (workflow/rules/train.smk) sends the job's stdout and stderr (progress bars,
tracebacks) to its log and keeps Snakemake's terminal on file descriptor 3 (``3>&2``), named by
``AVREPRO_CONSOLE_FD=3``. The lines go to the log (stderr) and, when that descriptor is open and
is not stderr itself, to the terminal too. They read only values the loop has computed and the
clock: no number the run writes depends on them.
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys
import time
from typing import TextIO

from tqdm import tqdm

from avrepro.engine import ddp

CONSOLE_FD_ENV = "AVREPRO_CONSOLE_FD"
HEARTBEAT_SECONDS = 300.0  # in a long epoch, a line when the console has been silent this long


def console_stream(environ=None) -> TextIO | None:
    """The terminal the rule left open (``AVREPRO_CONSOLE_FD``), or ``None``: not set, not a
    writable descriptor, or the same file as stderr. Under torchrun the workers do not inherit the
    descriptor (the number may name another file there): rank 0 opens torchrun's own copy,
    ``/proc/<torchrun>/fd/N``, when it is a terminal or a pipe (Linux; a regular file opened
    anew would not share the writers' offset: ``None``)."""
    value = (os.environ if environ is None else environ).get(CONSOLE_FD_ENV, "")
    if not value.isdigit():
        return None
    fd = int(value)
    if ddp.launched():
        path = f"/proc/{os.getppid()}/fd/{fd}"
        try:
            mode = os.stat(path).st_mode
            if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
                return None
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError:
            return None
        return _text(fd, owned=True)
    try:
        access = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    except OSError:
        return None
    if access not in (os.O_WRONLY, os.O_RDWR):
        return None
    return _text(fd, owned=False)


def _text(fd: int, owned: bool) -> TextIO | None:
    """A line-buffered text stream on ``fd``, unless it is stderr's file (the log) itself."""
    if _same_as_stderr(fd):
        if owned:
            os.close(fd)
        return None
    return open(fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=owned)


def _same_as_stderr(fd: int) -> bool:
    try:
        return os.path.sameopenfile(fd, sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False


def duration(seconds: float) -> str:
    """``42 s``, ``12 min``, ``3 h 05 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class EpochReporter:
    """The console lines of one training run (rank 0 with progress on; silent otherwise)."""

    def __init__(self, name: str, epochs: int, enabled: bool, console: TextIO | None = None):
        self.name, self.epochs, self.enabled = name, epochs, enabled
        self.console = console if enabled else None
        self.epoch_seconds: list[float] = []
        self.epoch_start = self.last_line = time.monotonic()
        self.epoch_steps = 0

    def say(self, text: str) -> None:
        """Write a line to the log (through tqdm, above its bar) and to the console."""
        if not self.enabled:
            return
        line = f"{self.name}: {text}"
        tqdm.write(line)
        if self.console is not None:
            try:
                self.console.write(line + "\n")
            except OSError:  # the terminal went away (Snakemake killed): keep training
                self.console = None
        self.last_line = time.monotonic()

    def start(self, epoch: int, device: str) -> None:
        """Before the first epoch of this process (``epoch``: the next one, 0-based)."""
        where = "from the start" if epoch == 0 else f"resuming at epoch {epoch + 1}"
        self.say(f"{self.epochs} epoch{'s' if self.epochs != 1 else ''} on {device}, {where}")

    def step(self, epoch: int, batch: int, steps: int, loss: float) -> None:
        """At a loss reading in the epoch: a line when the console has been silent for long."""
        now = time.monotonic()
        if now - self.last_line < HEARTBEAT_SECONDS or batch <= self.epoch_steps:
            return
        rate = (batch - self.epoch_steps) / max(now - self.epoch_start, 1e-9)
        left = duration((steps - batch) / rate) if rate > 0 else "?"
        self.say(
            f"epoch {epoch + 1}/{self.epochs}  step {batch}/{steps}  loss {loss:.4g}  "
            f"{rate:.2g} steps/s  epoch ends in {left}"
        )

    def epoch_done(self, epoch: int, train_loss: float, val_loss: float, best: float) -> None:
        """After an epoch's validation (``epoch``: the one just finished, 0-based)."""
        now = time.monotonic()
        self.epoch_seconds.append(now - self.epoch_start)
        per_epoch = sum(self.epoch_seconds) / len(self.epoch_seconds)
        left = self.epochs - epoch - 1
        eta = f"ETA {duration(per_epoch * left)}" if left else f"done in {duration(sum(self.epoch_seconds))}"
        self.say(
            f"epoch {epoch + 1}/{self.epochs}  loss {train_loss:.4g}  val {val_loss:.4g}  "
            f"best {best:.4g}  {per_epoch:.3g} s/epoch  {eta}"
        )

    def epoch_begins(self, batch: int) -> None:
        """At the start of an epoch's steps (``batch``: steps already done in it, on a resume)."""
        self.epoch_steps = batch
        self.epoch_start = time.monotonic()
