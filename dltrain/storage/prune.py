"""Free a finished run's disk: drop the resume points nothing will continue from.

A completed run keeps, after pruning, everything a later command reads: ``best.keras`` and
``last.keras`` (eval, predict, export), the newest intact resume point (what ``--resume --set
training.epochs=N`` extends from, with its own copy of the best checkpoint), ``run.json``,
``config.yaml``, ``metrics.csv``, plots, logs and exports. What goes: the older resume points
and what a killed writer left behind (temporary files, half-written points).

Only a ``completed`` run whose lock is free is touched, and the lock is held while its files
go, so no writer (a ``--resume``, a second prune) runs meanwhile. A point is first renamed
to a ``resume/.tmp-`` name, one atomic step, and then deleted: a crash midway leaves a folder
that the next lock holder removes as a leftover, never a half point under a point's name.

Freed bytes are the blocks the file system gets back (``du``'s count): a file with another
hard link outside what is removed (a ``best.keras`` linked to a point's file by an older
dltrain) frees nothing, and its data stays whole under the other name.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dltrain.errors import CheckpointError, RunFolderError, UsageError
from dltrain.storage.atomic import fsync_dir
from dltrain.storage.lock import RunLock, is_locked
from dltrain.storage.manifest import MANIFEST
from dltrain.storage.resume_point import latest_resume_point, resume_points
from dltrain.storage.run_folder import RunFolder, leftovers

__all__ = ["PruneResult", "disk_use", "find_runs", "prune_run"]

_MAX_DEPTH = 5
"""``runs/NAME/STUDY/trial-0001/STAMP`` is four levels below ``runs/``."""


@dataclass
class PruneResult:
    """What pruning one run removed (or, in a dry run, would remove) and freed."""

    run: Path
    removed: list[Path] = field(default_factory=list)
    freed_bytes: int = 0
    points: list[Path] = field(default_factory=list)
    """The older resume points among ``removed``."""
    leftovers: list[Path] = field(default_factory=list)
    """What a killed writer left, among ``removed``."""
    kept: Path | None = None
    """The resume point kept (what ``--resume`` continues from), if any."""
    whole_checkpoints: bool = False
    """All of ``checkpoints/`` goes (a study's trial that is not among its best)."""
    skipped: str | None = None
    """Why the run was left as it is (not completed, being written, unreadable)."""
    error: str | None = None
    """What stopped the removal midway (``removed`` then holds what went)."""
    dry_run: bool = False


def find_runs(path: Path) -> list[Path]:
    """The run folders at or under ``path`` (a run, ``runs/``, ``runs/NAME``, a study).

    A folder holding ``run.json`` is a run and is not looked into further; hidden folders
    and symlinks are not followed.

    Raises:
        UsageError: ``path`` does not exist or is not a folder.
    """
    if not path.exists():
        raise UsageError(f"{path}: no such folder")
    if not path.is_dir():
        raise UsageError(f"{path}: not a folder; expected a run folder or a folder of runs")
    found: list[Path] = []
    _walk(path, 0, found)
    return found


def _walk(folder: Path, depth: int, found: list[Path]) -> None:
    if (folder / MANIFEST).is_file():
        found.append(folder)
        return
    if depth >= _MAX_DEPTH:
        return
    try:
        children = sorted(
            p
            for p in folder.iterdir()
            if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        )
    except OSError:
        return
    for child in children:
        _walk(child, depth + 1, found)


def prune_run(path: Path, *, dry_run: bool = False, checkpoints: bool = True) -> PruneResult:
    """Remove a completed run's older resume points and leftovers; say what that freed.

    Args:
        path: The run folder.
        dry_run: Only say what would be removed and freed; take no lock, remove nothing.
        checkpoints: Keep the checkpoints (``best.keras``, ``last.keras``, the newest resume
            point). False removes all of ``checkpoints/`` (a study's trial that is not among
            its best): ``run.json``, ``metrics.csv`` and the rest stay.

    Returns:
        The result; ``skipped`` says why a run was left alone (never an exception for that).
    """
    result = PruneResult(run=path, dry_run=dry_run)
    why = _why_not(path)
    if why is not None:
        result.skipped = why
        return result
    if dry_run:
        if is_locked(path):
            result.skipped = "being written (its lock is held)"
            return result
        return _plan(path, result, checkpoints)
    lock = RunLock(path)
    try:
        lock.acquire()
    except RunFolderError as exc:
        result.skipped = exc.message.removeprefix(f"{path}: ")
        return result
    except OSError as exc:  # a read-only folder: nothing could be removed either
        result.skipped = f"cannot take its lock ({exc.strerror})"
        return result
    try:
        # Read again under the lock: a writer may have resumed the run since.
        why = _why_not(path)
        if why is not None:
            result.skipped = why
            return result
        _plan(path, result, checkpoints)
        if result.skipped is None:
            planned = result.freed_bytes
            done, error = _remove(result.removed)
            if error is not None:  # what stopped it; the rest stays
                result.error = error
                left = [p for p in result.removed if p not in done]
                result.freed_bytes = max(0, planned - disk_use(left))
                result.removed = done
                result.points = [p for p in result.points if p in done]
                result.leftovers = [p for p in result.leftovers if p in done]
    finally:
        lock.release()
    return result


def _why_not(path: Path) -> str | None:
    try:
        status = RunFolder.open(path).manifest.status
    except (CheckpointError, RunFolderError) as exc:
        return f"unreadable ({exc.message})"
    if status == "running" and is_locked(path) is False:
        return (
            "stale (run.json says running but its process is gone): --resume takes it over; "
            "only completed runs are pruned"
        )
    if status != "completed":
        return (
            f"{status}: only completed runs are pruned (an unfinished run's resume points "
            "are what --resume continues from)"
        )
    return None


def _plan(path: Path, result: PruneResult, checkpoints: bool) -> PruneResult:
    """Fill ``result.removed``, ``kept`` and ``freed_bytes`` (no file is touched)."""
    folder = path / "checkpoints"
    result.leftovers = leftovers(path)
    removed = list(result.leftovers)
    if not checkpoints:
        result.whole_checkpoints = True
        if folder.is_dir() and not folder.is_symlink():
            removed += sorted(folder.iterdir())
    else:
        try:
            point = latest_resume_point(folder)
        except CheckpointError as exc:
            result.skipped = f"no intact resume point, so none is removed ({exc.message})"
            return result
        if point is not None:
            result.kept = point.folder
            result.points = [p for p in resume_points(folder) if p.name < point.folder.name]
            removed += result.points
    # Leftovers first: nothing needs them. Then the points, oldest first.
    result.removed = list(dict.fromkeys(removed))
    result.freed_bytes = disk_use(result.removed)
    return result


def disk_use(paths: Iterable[Path]) -> int:
    """Bytes the file system gets back when ``paths`` (files or whole folders) are removed.

    Counts allocated blocks, as ``du`` does, and a file's blocks only when every hard link
    to it is among ``paths``: a file also reachable by another name frees nothing.
    """
    links: dict[tuple[int, int], int] = {}
    stats: dict[tuple[int, int], os.stat_result] = {}
    for path in paths:
        for entry in _entries(path):
            try:
                info = entry.lstat()
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            links[key] = links.get(key, 0) + 1
            stats[key] = info
    # A folder's link count counts its subfolders' ".."; only files can have other names.
    return sum(
        _allocated(info)
        for key, info in stats.items()
        if stat.S_ISDIR(info.st_mode) or links[key] >= info.st_nlink
    )


def _entries(path: Path) -> list[Path]:
    if not path.is_dir() or path.is_symlink():
        return [path]
    found = [path]
    for root, dirs, files in os.walk(path):
        found += [Path(root, name) for name in (*dirs, *files)]
    return found


def _allocated(info: os.stat_result) -> int:
    blocks = getattr(info, "st_blocks", None)
    return info.st_size if blocks is None else blocks * 512


def _remove(paths: list[Path]) -> tuple[list[Path], str | None]:
    """Remove ``paths`` in order; a folder goes by one rename to a leftover's name first.

    Returns:
        The paths removed, and why the next one could not be (None when all went).
    """
    done: list[Path] = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                aside = _aside(path)
                os.replace(path, aside)
                fsync_dir(aside.parent)
                shutil.rmtree(aside, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            return done, f"{path}: could not be removed ({exc.strerror}); stopped there"
        done.append(path)
    return done, None


def _aside(folder: Path) -> Path:
    """A name :func:`~dltrain.storage.run_folder.leftovers` finds, on the same file system."""
    if folder.parent.name == "resume":
        return folder.with_name(f".tmp-pruned-{folder.name}")
    return folder.with_name(f".{folder.name}.pruned.tmp")
