"""``writing(run)``: how a run folder ends when something stops the process that writes it.

From the moment a run folder exists until its command returns:

- SIGINT and SIGTERM are handled the same way everywhere. Inside the training loop the first
  one asks for a clean stop at the next batch (``dltrain.train.signals``); anywhere else
  (loading data, building the model, the test pass, the plots, saving the interrupted
  checkpoint) it stops at once. Either way ``run.json`` says ``interrupted`` and where, and
  the command exits 130; ``--resume`` finishes whatever was left.
- A full disk is an expected fault: ``run.json`` is updated if it still can be, temporary
  files are gone (every write is atomic), and a :class:`DiskFullError` says what could not be
  written and how much room a checkpoint needs (exit 1; ``--resume`` continues). When the
  disk is full before the run has started, the folder is removed (exit 2).
- A new folder is made with the signals held back (:func:`creating`), so a stop that comes
  before its config is written removes the folder instead of leaving one nobody can resume.
- The folder's lock is released.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from dltrain.errors import DiskFullError, RunFolderError
from dltrain.storage import RunFolder, utc_now
from dltrain.utils.units import format_bytes

__all__ = ["creating", "writing"]

_FULL = (errno.ENOSPC, errno.EDQUOT)


class _Stop:
    """SIGINT/SIGTERM outside training: stop at once, even where Python would drop the stop.

    Python runs a signal handler between two bytecodes of the main thread. When those belong
    to a weakref callback or a ``__del__`` (logging drops its handlers that way), the
    ``KeyboardInterrupt`` raised there is reported to ``sys.unraisablehook`` and dropped, and
    the run would go on as if nothing happened. While the handler is installed, that hook
    has the signal sent again a moment later (from a thread: sent from the hook, it would
    be raised inside the hook and dropped again), so the stop is raised in ordinary code.
    """

    AGAIN_S = 0.01

    def __init__(self) -> None:
        self.signum: int | None = None
        self.hook: Callable[[sys.UnraisableHookArgs], object] = sys.unraisablehook

    def handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    def unraisable(self, info: sys.UnraisableHookArgs) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt) and self.signum is not None:
            again = threading.Timer(self.AGAIN_S, os.kill, (os.getpid(), self.signum))
            again.daemon = True
            again.start()
            return
        self.hook(info)


@contextmanager
def _signals_stop() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    sys.unraisablehook = stop.unraisable
    try:
        yield
    finally:
        sys.unraisablehook = stop.hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _mark(run: RunFolder, **fields: object) -> None:
    """Record how the run ended, if the disk still lets us (never hides the real error)."""
    if run.manifest.status not in ("created", "running"):
        return
    try:
        run.update(**fields, finished_at=utc_now().isoformat())
    except OSError:
        pass


def _disk_full_message(run: RunFolder, exc: OSError) -> str:
    what = _file_name(run, exc.filename)
    free = format_bytes(shutil.disk_usage(run.path).free)
    checkpoint = run.path / "checkpoints" / "last.keras"
    size = format_bytes(checkpoint.stat().st_size) if checkpoint.is_file() else None
    need = f"; one checkpoint takes {size} and an epoch writes up to four" if size else ""
    return (
        f"disk full: could not write {what} ({free} free{need}). Everything written "
        f"before is intact; free some space and continue with: dltrain run --resume {run.path}"
    )


def _file_name(run: RunFolder, filename: str | bytes | None) -> str:
    """The file as a path inside the run folder where it is one (``checkpoints/best.keras``)."""
    if filename is None:
        return "a file of the run (the system did not say which)"
    path = Path(os.fsdecode(filename))
    if path.is_absolute() and path.is_relative_to(run.path):
        return str(path.relative_to(run.path))
    return str(path)


@contextmanager
def writing(run: RunFolder) -> Iterator[RunFolder]:
    """Stops and a full disk leave ``run`` truthful and resumable (see the module docstring)."""
    try:
        with _signals_stop():
            yield run
    except KeyboardInterrupt as exc:
        if run.manifest.status == "created":  # stopped before its config was written
            run.release()
            shutil.rmtree(run.path, ignore_errors=True)
            raise
        reason = str(exc) or "interrupted twice: stopped at once"
        _mark(run, status="interrupted", error=f"{reason}; resume to finish the run")
        raise
    except (OSError, DiskFullError) as raised:
        # A plot reports a full disk as a DiskFullError caused by the OSError (report.plots).
        full = raised if isinstance(raised, OSError) else raised.__cause__
        if not isinstance(full, OSError) or full.errno not in _FULL:
            raise
        if run.manifest.status == "created":  # nothing of the run exists yet: leave nothing
            run.release()
            shutil.rmtree(run.path, ignore_errors=True)
            raise RunFolderError(
                f"{run.path.parent}: disk full, the run could not start ({full.strerror})"
            ) from None
        message = _disk_full_message(run, full)
        _mark(run, status="failed", error=message)
        raise DiskFullError(message) from None
    finally:
        run.release()


@contextmanager
def creating(create: Callable[[], RunFolder]) -> Iterator[RunFolder]:
    """``writing(create())``, with no moment where a signal finds a folder unprotected.

    A SIGINT or SIGTERM that comes while ``create`` makes the folder and its ``run.json`` is
    held and raised once :func:`writing` handles it (blocking the signal would not do: the
    kernel hands it to another thread, TensorFlow's, whose default action kills the process).
    A folder stopped before its config is written is removed, never left ``created``.
    """
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        run = create()
        with writing(run):
            if held:
                raise KeyboardInterrupt(f"stopped by {signal.Signals(held[0]).name}")
            yield run
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
