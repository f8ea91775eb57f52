"""What ``--resume`` continues: the saved config (and the changes it can apply), where the
run stopped, what it logged so far, and what still has to be done.

A change is applied only where the resumed run really uses it: epochs, callbacks, NaN
handling and the optimizer's hyperparameters (set on the optimizer loaded from the resume
point). Anything else (the model, the data, the loss, the optimizer's kind) comes from the
resume point, so changing it is refused even with ``--force``: recording a value the run
did not use would make the run folder lie.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dltrain.config import LoadedConfig, config_from_dict
from dltrain.config.diff import config_drift
from dltrain.config.saved import read_saved_config
from dltrain.errors import CheckpointError, ConfigError, UsageError
from dltrain.plugins import import_saved_plugins
from dltrain.storage import (
    ResumePoint,
    ResumeRecord,
    RunFolder,
    latest_resume_point,
    publish_file,
    utc_now,
)
from dltrain.storage.manifest import Drift, config_text_digest
from dltrain.storage.resume_point import archive_damage

__all__ = ["ResumePlan", "apply_changes", "plan_resume", "record_resume"]

# Keys a resumed run applies; everything else must stay as the run was trained.
_APPLIED = ("training.epochs", "training.on_nan", "training.max_rollbacks",
            "training.rollback_factor", "output.plots")
_APPLIED_UNDER = ("callbacks.", "optimizer.", "tracking")
# Where a run is tracked does not change how it trains: no --force needed.
_FREE_UNDER = ("training.epochs", "tracking")


@dataclass
class ResumePlan:
    """A run to continue: its config now, where it stopped and what it logged so far."""

    loaded: LoadedConfig
    point: ResumePoint | None
    rows: list[dict[str, float]]
    drift: list[Drift]
    """Changed config values (``training.epochs`` included)."""
    notes: list[str] = field(default_factory=list)
    """What the user should know (a damaged point passed over, metrics rebuilt, ...)."""


def _saved_config(run: RunFolder, *, check_digest: bool = True) -> dict[str, Any]:
    saved = read_saved_config(run.path)
    if saved is None:
        raise UsageError(f"{run.path}: no config.yaml; this run cannot be resumed")
    recorded = run.manifest.config_sha256
    # A follower may read config.yaml while the chief rewrites it (a forced resume): the
    # chief alone checks for hand edits.
    text = run.read_text("config.yaml") or ""
    if check_digest and recorded and recorded != config_text_digest(text):
        raise UsageError(
            f"{run.path / 'config.yaml'}: changed since the run wrote it (its sha256 is not the "
            "one run.json recorded), so it no longer says how the run was trained; put it "
            "back and give changes with --set instead"
        )
    return saved


def _applied(key: str) -> bool:
    if key == "optimizer.name":
        return False  # a different optimizer kind cannot take over the saved one's state
    return key in _APPLIED or key.startswith(_APPLIED_UNDER)


def plan_resume(
    run: RunFolder,
    overrides: Sequence[str],
    *,
    force: bool,
    follower: bool = False,
    trust_imports: bool = False,
) -> ResumePlan:
    """Check that ``run`` can continue with ``overrides`` and say from where.

    ``follower``: this process is a multi-worker run's non-chief worker. It reads the chief's
    run folder (the same resume point, so every worker restores the same state) and writes
    nothing there; the chief alone republishes ``best.keras`` and records the resume.
    ``trust_imports``: the run's plugins may be imported from where it recorded them (see
    :func:`~dltrain.plugins.import_saved_plugins`).

    Raises:
        CheckpointError: the run's saved files are unreadable.
        UsageError: a plugin that needs ``trust_imports`` or is not the code recorded; a
            change that cannot be applied, a change without ``force``, a hand-edited
            config.yaml, or nothing left to do.
    """
    saved = _saved_config(run, check_digest=not follower)
    # Before anything else runs the saved `imports`: a received folder's own code needs consent.
    import_saved_plugins(saved.get("imports"), run.manifest.imports, run.path, trust=trust_imports)
    try:
        loaded = config_from_dict(saved, overrides)
    except ConfigError as exc:
        if not overrides:
            raise CheckpointError(
                f"{run.path / 'config.yaml'}: the saved config is invalid:\n{exc.render()}"
            ) from exc
        raise
    drift = [Drift(key=k, old=o, new=n) for k, o, n in config_drift(saved, loaded.to_dict())]
    _check_drift(drift, force)
    notes = [f"removed what a killed process left: {p.name}" for p in run.removed]
    point = latest_resume_point(run.checkpoints)
    if point is not None:
        notes += [f"passed over a damaged resume point: {why}" for why in point.skipped]
    done = point.epochs_completed if point else 0
    epochs = loaded.config.training.epochs
    finished = run.manifest.status == "completed"
    if done >= epochs and finished:
        raise UsageError(
            f"{run.path}: already trained {done} of {epochs} epochs; extend it with "
            f"--set training.epochs={done + 5}, say"
        )
    if finished and epochs == saved.get("training", {}).get("epochs"):
        # Early stopping ended it: going on would undo that decision.
        raise UsageError(
            f"{run.path}: completed (stopped early after epoch {done}); to train on anyway, "
            f"extend it with --set training.epochs={epochs + 5}, say"
        )
    if done >= epochs:
        notes.append(f"all {done} epochs were trained; finishing the test pass and report")
    rows = _rows(run, point, done, notes)
    if not follower:
        _republish_best(run, point, notes)
    return ResumePlan(loaded, point, rows, drift, notes)


def _check_drift(drift: list[Drift], force: bool) -> None:
    refused = [d for d in drift if not _applied(d.key)]
    if refused:
        lines = "\n".join(f"  {d.key}: {d.old!r} -> {d.new!r}" for d in refused)
        raise UsageError(
            "--resume cannot apply these changes (the model, data and optimizer kind come "
            f"from the resume point):\n{lines}\nstart a new run with them instead"
        )
    changed = [d for d in drift if not d.key.startswith(_FREE_UNDER)]
    if changed and not force:
        lines = "\n".join(f"  {d.key}: {d.old!r} -> {d.new!r}" for d in changed)
        raise UsageError(
            "--resume changes only training.epochs unless told; these would change:\n"
            f"{lines}\nadd --force to apply them from the next epoch (recorded in run.json)"
        )


def _rows(
    run: RunFolder, point: ResumePoint | None, done: int, notes: list[str]
) -> list[dict[str, float]]:
    rows = run.metric_rows(done)
    saved = point.state.rows if point else []
    if len(rows) < done and len(saved) >= done:
        notes.append(
            f"metrics.csv had {len(rows)} of {done} epochs; rebuilt from the resume point"
        )
        return [dict(r) for r in saved[:done]]
    if len(rows) < done:
        notes.append(f"metrics.csv has {len(rows)} of {done} epochs; earlier rows are lost")
    return rows


def _republish_best(run: RunFolder, point: ResumePoint | None, notes: list[str]) -> None:
    """Make best.keras and run.json agree with the resume point, and prove best.keras reads."""
    best = run.checkpoints / "best.keras"
    if point is not None and (point.folder / "best.keras").is_file():
        publish_file(point.folder / "best.keras", best, link=False)  # its own copy
        run.update(best=point.state.best)
    if best.is_file():
        problem = archive_damage(best)
        if problem:
            raise CheckpointError(
                f"{problem}; the resume point has no copy to restore it from. Move it away "
                "to resume without a best checkpoint (the next improving epoch writes one)"
            )


def apply_changes(model: Any, plan: ResumePlan) -> None:
    """Set the optimizer hyperparameters a forced resume changed on the loaded optimizer.

    Raises:
        UsageError: a change this optimizer has no setting for, or a learning-rate schedule.
    """
    optimizer = model.optimizer
    for change in plan.drift:
        key, new = change.key, change.new
        if not key.startswith("optimizer."):
            continue
        name = key.split(".", 1)[1]
        if "." in name or "[" in name or not hasattr(optimizer, name) or isinstance(new, dict):
            raise UsageError(
                f"--resume cannot set {key} on the resumed {type(optimizer).__name__} "
                "(only plain hyperparameters such as the learning rate); start a new run"
            )
        try:
            setattr(optimizer, name, new)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--resume cannot set {key}={new!r}: {exc}") from None


def record_resume(run: RunFolder, plan: ResumePlan, command: Sequence[str] | None) -> None:
    """Write the changed config and a resume record; the run is running again."""
    done = plan.point.epochs_completed if plan.point else 0
    record = ResumeRecord(
        at=utc_now().isoformat(),
        from_epoch=done,
        command=list(command or []),
        drift=[d for d in plan.drift if d.key != "training.epochs"],
    )
    fields: dict[str, Any] = {}
    if plan.drift:
        text = plan.loaded.to_yaml()
        run.write_text("config.yaml", text)
        fields["config_sha256"] = config_text_digest(text)
    run.update(
        **fields,
        status="running",
        resumes=[*run.manifest.resumes, record],
        epochs_planned=plan.loaded.config.training.epochs,
        error=None,
        config_hash=plan.loaded.digest(),
        pid=os.getpid(),
    )
