"""The one way dltrain publishes a file: temporary file, fsync, rename, fsync the folder.

A crash at any moment leaves either the old file or the new one, never half of one, and
after the folder's fsync the rename itself survives a power loss. A folder (an exported
SavedModel) is published the same way by :func:`atomic_write_dir`.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_dir",
    "atomic_write_text",
    "publish_file",
    "temp_path",
]

_counter = itertools.count()


def temp_path(target: Path) -> Path:
    """A hidden temporary name beside ``target`` that keeps its suffix (``.keras`` needs it)."""
    return _hidden(target, "tmp")


def _hidden(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.stem}.{os.getpid()}-{next(_counter)}.{kind}{target.suffix}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the rename is still atomic
    finally:
        os.close(fd)


def atomic_write(target: Path, write: Callable[[Path], object]) -> Path:
    """Publish ``target`` atomically: ``write(tmp)`` fills a temporary file beside it.

    The temporary file is removed when ``write`` (or anything after it) fails, so no
    ``.tmp`` file outlives an error. Files get the usual permissions (0666 less the umask).

    Returns:
        ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        write(tmp)
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        _name_target(exc, target, tmp)
        raise
    # rename() does nothing when both names are hard links to one file (publishing the same
    # resume point twice): the temporary name would then stay behind.
    tmp.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return target


def atomic_write_bytes(target: Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``target`` (see :func:`atomic_write`)."""

    def write(tmp: Path) -> None:
        with tmp.open("xb") as handle:
            handle.write(data)

    return atomic_write(target, write)


def atomic_write_text(target: Path, text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``target``."""
    return atomic_write_bytes(target, text.encode("utf-8"))


def publish_file(source: Path, target: Path, *, link: bool = True) -> Path:
    """Make ``target`` an atomic copy of ``source`` (a hard link where the file system allows).

    ``link=False`` always copies: for a file users may damage in place (``truncate``, ``cp x
    best.keras``), which must not damage ``source`` with it.
    """

    def write(tmp: Path) -> None:
        if link:
            try:
                os.link(source, tmp)
                return
            except OSError:
                pass
        shutil.copy2(source, tmp)

    return atomic_write(target, write)


def atomic_write_dir(target: Path, write: Callable[[Path], object]) -> Path:
    """Publish the folder ``target``: ``write(tmp)`` creates and fills a temporary folder beside it.

    Every file and folder inside is fsynced before the rename, so after it the folder's
    content survives a power loss like a file's. The temporary folder is removed when
    ``write`` (or anything after it) fails.

    A folder cannot be renamed over a non-empty one, so an existing ``target`` (folder or
    file) is first renamed aside to a hidden name and deleted once the new folder is in
    place. This is the one moment ``target`` is missing: a crash between the two renames
    leaves the old content under ``.<name>.<pid>-<n>.old<suffix>`` beside it, never half of
    either.

    Returns:
        ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    aside: Path | None = None
    try:
        write(tmp)
        _fsync_tree(tmp)
        if target.exists() or target.is_symlink():
            aside = _hidden(target, "old")
            os.replace(target, aside)
        os.replace(tmp, target)
    except BaseException as exc:
        _name_target(exc, target, tmp)
        _remove(tmp)
        if aside is not None and not (target.exists() or target.is_symlink()):
            os.replace(aside, target)  # the new folder never arrived: put the old one back
        raise
    fsync_dir(target.parent)
    if aside is not None:
        _remove(aside)
    return target


def _name_target(exc: BaseException, target: Path, tmp: Path) -> None:
    # Keras's zip writer and fsync raise OSErrors without a file name, and a named one names
    # the temporary file: a full disk's message then says which file could not be written.
    if isinstance(exc, OSError) and (exc.filename is None or str(exc.filename) == str(tmp)):
        exc.filename = str(target)


def _fsync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            _fsync_file(Path(root, name))
        fsync_dir(Path(root))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
