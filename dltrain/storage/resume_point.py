"""Per-epoch resume points: ``checkpoints/resume/epoch-NNNNN/{model.keras,state.json}``.

A resume point is written into a temporary folder and renamed into place, so a folder that
exists is complete: ``SIGKILL`` or power loss at any moment leaves the previous epoch's point
intact. ``last.keras`` is a copy of the newest point's model, never a hard link: damage to
it in place must not damage the point.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dltrain.errors import CheckpointError
from dltrain.storage.atomic import atomic_write_text, fsync_dir, publish_file
from dltrain.storage.manifest import ResumeState, read_resume_state

__all__ = [
    "ResumePoint",
    "Savable",
    "archive_damage",
    "latest_resume_point",
    "resume_points",
    "save_resume_point",
]

_PREFIX = "epoch-"
_KEEP = 2


class Savable(Protocol):
    """Anything with Keras's ``save(path)`` (a ``keras.Model``)."""

    def save(self, filepath: str | Path) -> None: ...


@dataclass(frozen=True)
class ResumePoint:
    """A saved end-of-epoch state: ``epochs_completed`` epochs are done."""

    epochs_completed: int
    model_path: Path
    state: ResumeState
    skipped: tuple[str, ...] = ()
    """Newer points that were damaged and passed over (why, one line each)."""

    @property
    def folder(self) -> Path:
        """The point's folder (where extra state files live)."""
        return self.model_path.parent


def save_resume_point(
    checkpoints: Path,
    model: Savable,
    epochs_completed: int,
    state: ResumeState,
    extra: Callable[[Path], None] | None = None,
) -> ResumePoint:
    """Write the model (weights + optimizer state) and ``state`` for ``epochs_completed``.

    ``extra`` may write more files into the point's folder before it is published.
    """
    root = checkpoints / "resume"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_PREFIX}{epochs_completed:05d}"
    tmp = root / f".tmp-{epochs_completed:05d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        model.save(tmp / "model.keras")
        atomic_write_text(tmp / "state.json", state.to_json())
        if extra is not None:
            extra(tmp)
        fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(root)
    publish_file(final / "model.keras", checkpoints / "last.keras", link=False)
    for old in _points(root)[:-_KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return ResumePoint(epochs_completed, final / "model.keras", state)


def resume_points(checkpoints: Path) -> list[Path]:
    """Every resume point's folder under ``checkpoints``, oldest first (intact or not)."""
    return _points(checkpoints / "resume")


def _points(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)]
    return sorted(found, key=lambda p: p.name)


def _intact_state(point: Path) -> ResumeState:
    """The point's state, when the point can be used.

    Raises:
        CheckpointError: why it cannot (state unreadable or invalid, an archive damaged).
    """
    state = read_resume_state(point / "state.json")
    for name in ("model.keras", "best.keras"):
        path = point / name
        if name == "best.keras" and not path.exists():
            continue
        problem = archive_damage(path)
        if problem:
            raise CheckpointError(problem)
    return state


def archive_damage(path: Path) -> str | None:
    """Why a ``.keras`` file (a zip archive) is not whole, or None when it is."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile) as exc:
        return f"{path}: damaged ({exc})"
    return f"{path}: damaged (member {bad} fails its checksum)" if bad else None


def latest_resume_point(checkpoints: Path) -> ResumePoint | None:
    """The newest intact resume point, or None when no epoch has finished.

    A damaged newer point (truncated model, unreadable state) is passed over for the one
    before it; ``skipped`` says which and why.

    Raises:
        CheckpointError: points exist but none of them is intact.
    """
    points = _points(checkpoints / "resume")
    skipped: list[str] = []
    for point in reversed(points):
        try:
            state = _intact_state(point)
        except CheckpointError as exc:
            skipped.append(str(exc))
            continue
        epochs = int(point.name[len(_PREFIX) :])
        return ResumePoint(epochs, point / "model.keras", state, tuple(skipped))
    if skipped:
        raise CheckpointError(
            "no intact resume point:\n  " + "\n  ".join(skipped)
        )
    return None
