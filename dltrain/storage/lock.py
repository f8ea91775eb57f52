"""One writer per run folder: an OS file lock that the kernel releases when the process dies.

``<run>/.lock`` is locked with ``flock`` for as long as a process writes the run (a new run
from its creation, a resume from its start); the file holds the writer's pid. A second
writer is refused, naming that pid. A run whose manifest says ``running`` but whose lock is
free was left by a process that died: :func:`is_locked` tells ``dltrain runs`` so, and
``--resume`` may take it over.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from dltrain.errors import RunFolderError

__all__ = ["LOCK_FILE", "RunLock", "is_locked", "pid_alive"]

LOCK_FILE = ".lock"


class RunLock:
    """The lock of one run folder, held until :meth:`release` (or the process ends)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or fail at once.

        Raises:
            RunFolderError: another live process holds it (named by its pid).
        """
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderError(
                f"{self.folder}: this run is being written by process {holder} (its lock "
                "is held); wait for it to end, or stop it, before writing to this run"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Let go of the lock (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_locked(folder: Path) -> bool | None:
    """Whether a live process holds ``folder``'s lock; None for a folder without one (0.1)."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
