"""What ``--resume`` continues: the saved config (and allowed changes), resume point, history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dltrain.config import LoadedConfig, config_from_dict
from dltrain.config.diff import config_drift
from dltrain.config.saved import read_saved_config
from dltrain.errors import CheckpointError, ConfigError, UsageError
from dltrain.plugins import import_paths_of
from dltrain.storage import ResumePoint, ResumeRecord, RunFolder, latest_resume_point, utc_now
from dltrain.storage.manifest import Drift

__all__ = ["ResumePlan", "plan_resume", "record_resume"]


@dataclass
class ResumePlan:
    """A run to continue: its config now, where it stopped and what it logged so far."""

    loaded: LoadedConfig
    point: ResumePoint | None
    rows: list[dict[str, float]]
    drift: list[tuple[str, Any, Any]]
    """Changed config values (``training.epochs`` included), as (key, old, new)."""


def _saved_config(run: RunFolder) -> dict[str, Any]:
    saved = read_saved_config(run.path)
    if saved is None:
        raise UsageError(f"{run.path}: no config.yaml; this run cannot be resumed")
    return saved


def plan_resume(run: RunFolder, overrides: Sequence[str], *, force: bool) -> ResumePlan:
    """Check that ``run`` can continue with ``overrides`` and say from where.

    Raises:
        CheckpointError: the run's saved files are unreadable.
        UsageError: the config would change (without ``force``) or there is nothing to do.
    """
    saved = _saved_config(run)
    try:
        # Plugins (`imports`) are found again where the run found them.
        loaded = config_from_dict(
            saved, overrides, import_paths=import_paths_of(run.manifest.imports)
        )
    except ConfigError as exc:
        if not overrides:
            raise CheckpointError(
                f"{run.path / 'config.yaml'}: the saved config is invalid:\n{exc.render()}"
            ) from exc
        raise
    drift = config_drift(saved, loaded.to_dict())
    changed = [d for d in drift if d[0] != "training.epochs"]
    if changed and not force:
        lines = "\n".join(f"  {k}: {old!r} -> {new!r}" for k, old, new in changed)
        raise UsageError(
            "--resume only allows changing training.epochs; these would change:\n"
            f"{lines}\nadd --force to resume anyway (the drift is recorded in run.json)"
        )
    point = latest_resume_point(run.checkpoints)
    done = point.epochs_completed if point else 0
    epochs = loaded.config.training.epochs
    if done >= epochs:
        raise UsageError(
            f"{run.path}: already trained {done} of {epochs} epochs; extend it with "
            f"--set training.epochs={done + 5}, say"
        )
    if run.manifest.status == "completed" and epochs == saved.get("training", {}).get("epochs"):
        # Early stopping ended it: going on would undo that decision.
        raise UsageError(
            f"{run.path}: completed (stopped early after epoch {done}); to train on anyway, "
            f"extend it with --set training.epochs={epochs + 5}, say"
        )
    if loaded.config.distribute.strategy == "multi_worker_mirrored":
        raise UsageError(
            "--resume of multi-worker runs is not supported: the workers' states live on "
            "their own machines; start a new run (see docs/distributed.md)"
        )
    return ResumePlan(loaded, point, run.metric_rows(done), drift)


def record_resume(run: RunFolder, plan: ResumePlan, command: Sequence[str] | None) -> None:
    """Write the changed config and a resume record; the run is running again."""
    done = plan.point.epochs_completed if plan.point else 0
    record = ResumeRecord(
        at=utc_now().isoformat(),
        from_epoch=done,
        command=list(command or []),
        drift=[
            Drift(key=k, old=o, new=n) for k, o, n in plan.drift if k != "training.epochs"
        ],
    )
    if plan.drift:
        run.write_text("config.yaml", plan.loaded.to_yaml())
    run.update(
        status="running",
        resumes=[*run.manifest.resumes, record],
        epochs_planned=plan.loaded.config.training.epochs,
        error=None,
        config_hash=plan.loaded.digest(),
    )
