"""Per-epoch resume points: ``checkpoints/resume/epoch-NNNNN/{model.keras,state.json}``.

A resume point is written into a temporary folder and renamed into place, so a folder that
exists is complete: ``SIGKILL`` or power loss at any moment leaves the previous epoch's point
intact. ``last.keras`` is a hard link (or copy) of the newest point's model.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dltrain.errors import CheckpointError
from dltrain.report.run_folder import atomic_write_text

__all__ = ["ResumePoint", "latest_resume_point", "publish_file", "save_resume_point"]

_PREFIX = "epoch-"
_KEEP = 2


@dataclass(frozen=True)
class ResumePoint:
    """A saved end-of-epoch state: ``epochs_completed`` epochs are done."""

    epochs_completed: int
    model_path: Path
    state: dict[str, Any]


def publish_file(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source`` atomically (hard link when possible)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)
    os.replace(tmp, target)


def save_resume_point(
    checkpoints: Path,
    model: Any,
    epochs_completed: int,
    state: dict[str, Any],
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
    model.save(tmp / "model.keras")
    atomic_write_text(tmp / "state.json", json.dumps(state, indent=2, default=float) + "\n")
    if extra is not None:
        extra(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    publish_file(final / "model.keras", checkpoints / "last.keras")
    for old in _points(root)[:-_KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return ResumePoint(epochs_completed, final / "model.keras", state)


def _points(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)]
    return sorted(found, key=lambda p: p.name)


def latest_resume_point(checkpoints: Path) -> ResumePoint | None:
    """The newest complete resume point, or None when no epoch has finished.

    Raises:
        CheckpointError: the newest point's ``state.json`` is unreadable.
    """
    points = _points(checkpoints / "resume")
    if not points:
        return None
    newest = points[-1]
    state_file = newest / "state.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{state_file}: unreadable resume state ({exc})") from exc
    return ResumePoint(int(newest.name[len(_PREFIX) :]), newest / "model.keras", state)


def _seed_generators(model: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for i, generator in enumerate(getattr(layer, "_seed_generators", [])):
            found[f"{layer.name}/{i}"] = generator
    return found


def save_rng_states(model: Any, path: Path) -> None:
    """Save the state of every layer's random seed generator (dropout masks, augmentation).

    Keras's ``.keras`` format does not keep them, and without them a resumed run would draw
    different dropout masks than the uninterrupted run.
    """
    import numpy as np

    states = {key: np.asarray(gen.state.numpy()) for key, gen in _seed_generators(model).items()}
    np.savez(path, **states)  # type: ignore[arg-type]  # numpy stubs mistype **kwargs


def restore_rng_states(model: Any, path: Path) -> None:
    """Put back what :func:`save_rng_states` saved (missing file: nothing to restore)."""
    import numpy as np

    if not path.is_file():
        return
    generators = _seed_generators(model)
    with np.load(path) as saved:
        for key in saved.files:
            if key in generators:
                generators[key].state.assign(saved[key])
