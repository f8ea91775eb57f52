"""Nested MLflow runs: a study (parent run) whose trials are dltrain runs (child runs).

``study_run`` starts the parent; inside ``study.trial()`` every ``run_experiment`` is logged
as a child of it (tag ``mlflow.parentRunId``), whatever its config says about tracking; after
it, ``study.record(run_dir, value)`` logs the trial's objective. When the study ends, the best
trial is tagged ``dltrain.best_trial=true`` and the parent gets ``best_run_id`` and
``best_value``. The active trial is a context variable, so each thread (or task) enters its
own ``study.trial()``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dltrain.storage.manifest import read_manifest
from dltrain.tracking.settings import TrackingSettings, require_mlflow
from dltrain.utils.urls import public_url

__all__ = ["Study", "active_study", "study_run"]

_ACTIVE: ContextVar[Study | None] = ContextVar("dltrain_mlflow_study", default=None)


def active_study() -> Study | None:
    """The study whose ``trial()`` block the caller is in, if any."""
    return _ACTIVE.get()


@dataclass
class Study:
    """A parent MLflow run; see the module docstring."""

    uri: str
    experiment: str
    run_id: str | None
    """The parent run (None when the server could not be reached: trials then warn)."""
    direction: Literal["minimize", "maximize"]
    _tracker: Any = field(repr=False)
    best_run_id: str | None = None
    best_value: float | None = None

    @contextmanager
    def trial(self) -> Iterator[Study]:
        """Runs started in this block are children of the study."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def record(
        self, run_dir: Path, value: float | None, params: Mapping[str, Any] | None = None
    ) -> str | None:
        """Log a finished trial's objective ``value`` (and the tuner's ``params``) on its run.

        Returns:
            The trial's MLflow run id (None if it was not logged).
        """
        from mlflow.entities import Metric, Param

        from dltrain.tracking.upload import mlflow_key

        record = read_manifest(run_dir / "run.json").mlflow
        if record is None or self.run_id is None or record.uri != public_url(self.uri):
            return None
        tracker = self._tracker
        tracker.retry()
        metrics = []
        if value is not None and math.isfinite(value):
            metrics.append(Metric("objective", float(value), int(time.time() * 1000), 0))
            better = self.best_value is None or (
                value < self.best_value if self.direction == "minimize" else value > self.best_value
            )
            if better:
                self.best_run_id, self.best_value = record.run_id, float(value)
        logged = tracker.call("read trial params", tracker.client.get_run, record.run_id)
        have = set(logged.data.params) if logged is not None else set()
        params_list = [
            Param(mlflow_key(f"trial.{k}"), str(v))
            for k, v in (params or {}).items()
            if mlflow_key(f"trial.{k}") not in have
        ]
        tracker.call(
            "log the trial",
            tracker.client.log_batch,
            record.run_id,
            metrics=metrics,
            params=params_list,
        )
        return record.run_id


@contextmanager
def study_run(
    uri: str,
    experiment: str,
    name: str,
    *,
    direction: Literal["minimize", "maximize"] = "minimize",
    tags: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Iterator[Study]:
    """Start a parent run ``name`` in ``experiment``; end it FINISHED / KILLED / FAILED.

    Raises:
        ConfigError: the ``mlflow`` extra is missing.
    """
    require_mlflow()
    from dltrain.tracking.client import Tracker
    from dltrain.tracking.upload import experiment_id_of

    tracker = Tracker(TrackingSettings(uri=uri, experiment=experiment), warn)
    experiment_id = experiment_id_of(tracker, experiment)
    parent = None
    if experiment_id is not None:
        created = tracker.call(
            "start the study run",
            tracker.client.create_run,
            experiment_id,
            tags=dict(tags or {}),
            run_name=name,
        )
        parent = str(created.info.run_id) if created is not None else None
    study = Study(uri, experiment, parent, direction, tracker)
    status = "FINISHED"
    try:
        yield study
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        _end(study, tracker, status)


def _end(study: Study, tracker: Any, status: str) -> None:
    if study.run_id is None:
        return
    tracker.retry()
    client = tracker.client
    if study.best_run_id is not None and study.best_value is not None:
        tracker.call(
            "tag the best trial", client.set_tag, study.best_run_id, "dltrain.best_trial", "true"
        )
        tracker.call(
            "tag the study", client.set_tag, study.run_id, "best_run_id", study.best_run_id
        )
        tracker.call(
            "log the best value", client.log_metric, study.run_id, "best_value", study.best_value
        )
    tracker.call(f"mark the study {status}", client.set_terminated, study.run_id, status)
