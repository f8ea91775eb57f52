"""A run's life in MLflow: ``check_tracking`` before, ``tracked_run`` around training, ``sync_run``.

``tracked_run`` is what the runner wraps training and the report in: it opens (or, for a
resume, continues) the MLflow run, yields the Keras callback that logs each epoch, and at the
end uploads the run folder's files and mirrors its status (FINISHED / FAILED / KILLED, also
when Ctrl-C or an error ends the run outside the training loop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from dltrain.config import LoadedConfig
from dltrain.errors import UsageError
from dltrain.storage import RunFolder
from dltrain.tracking.client import Tracker
from dltrain.tracking.nested import active_study
from dltrain.tracking.settings import (
    TrackingSettings,
    require_mlflow,
    settings_from,
    uri_problem,
)
from dltrain.tracking.upload import STATUS, open_mlflow_run, upload_run

if TYPE_CHECKING:
    from dltrain.train.sink import ProgressSink

__all__ = ["SyncResult", "check_tracking", "sync_run", "tracked_run"]


def check_tracking(loaded: LoadedConfig, run: RunFolder | None = None) -> None:
    """Fail before anything is written when the config asks for tracking it cannot have.

    ``run`` is the folder a resume continues (the server its ``run.json`` recorded counts).

    Raises:
        ConfigError: no server named anywhere, or the ``mlflow`` extra is not installed
            (located at the config's ``tracking.mlflow``).
    """
    if loaded.config.tracking is None or loaded.config.tracking.mlflow is None:
        return
    with loaded.located():
        settings_from(loaded.to_dict(), recorded_uri=_fallback_uri(run))
        require_mlflow()


def _fallback_uri(run: RunFolder | None) -> str | None:
    """The server when neither the config nor the env names one: the study's, or the recorded."""
    study = active_study()
    if study is not None:
        return study.uri
    record = run.manifest.mlflow if run is not None else None
    return record.uri if record else None


def _settings(loaded: LoadedConfig, run: RunFolder) -> TrackingSettings | None:
    settings = settings_from(loaded.to_dict(), recorded_uri=_fallback_uri(run))
    study = active_study()
    if study is None:
        return settings
    # A trial of a study goes where its parent is: the same server and experiment.
    base = settings or TrackingSettings(uri=study.uri, experiment=study.experiment)
    return replace(base, uri=study.uri, experiment=study.experiment, parent_run_id=study.run_id)


@contextmanager
def tracked_run(loaded: LoadedConfig, run: RunFolder, sink: ProgressSink) -> Iterator[list[Any]]:
    """Track ``run`` in MLflow if its config (or an active study) asks: yields the callbacks.

    Never raises for the server's sake: what could not be logged is said through
    ``sink.message`` and ``dltrain sync`` uploads it later.
    """
    settings = _settings(loaded, run)
    if settings is not None and loaded.config.distribute.strategy == "multi_worker_mirrored":
        from dltrain.train.distributed import worker_role

        if not worker_role().is_chief:
            settings = None  # one MLflow run per training: the chief's, as for the run folder
    if settings is None:
        yield []
        return
    tracker = Tracker(settings, sink.message)
    open_mlflow_run(tracker, run)
    record = run.manifest.mlflow
    if tracker.run_id is not None and record is not None:
        sink.message(f"mlflow: {record.describe()}")
    from dltrain.tracking.callback import MlflowCallback

    try:
        yield [MlflowCallback(tracker)]
    except KeyboardInterrupt:
        _finish(tracker, run, sink.message, "KILLED")
        raise
    except BaseException:
        _finish(tracker, run, sink.message, "FAILED")
        raise
    _finish(tracker, run, sink.message, None)


def _finish(
    tracker: Tracker, run: RunFolder, warn: Callable[[str], None], status: str | None
) -> None:
    tracker.retry()  # the server may be back: upload what the live logging missed
    if tracker.run_id is None:
        open_mlflow_run(tracker, run)
    if tracker.run_id is not None:
        upload_run(tracker, run, status)
    if tracker.failed is not None:
        warn(
            f"warning: the run is not fully logged to MLflow; upload it with: "
            f"dltrain sync {run.path} --mlflow {tracker.uri}"
        )


@dataclass
class SyncResult:
    """One run folder uploaded by :func:`sync_run`."""

    run_dir: Path
    uri: str
    run_id: str
    status: str
    created: bool
    """A new MLflow run (False: the one ``run.json`` recorded was updated)."""
    url: str | None = None
    """The run's page in the MLflow UI (None for a database URI)."""


def sync_run(run_dir: Path, uri: str | None = None, *, experiment: str | None = None) -> SyncResult:
    """Upload a run folder to MLflow; again and again into the same MLflow run.

    The server is ``uri``, else the run's ``tracking.mlflow.uri``, ``MLFLOW_TRACKING_URI``,
    or the server ``run.json`` recorded.

    Raises:
        CheckpointError: not a readable run folder.
        RunFolderError: another process is writing it.
        ConfigError: no server given anywhere, a URI MLflow cannot track to, or the ``mlflow``
            extra is missing.
        UsageError: ``uri`` is no server or database URI (checked before the folder is opened).
        TrackingError: the server failed (nothing in the run folder changes but ``run.json``'s
            record of the MLflow run).
    """
    problem = uri_problem(uri) if uri else None
    if problem is not None:
        raise UsageError(f"--mlflow: {problem}; received {uri!r}")
    run = RunFolder.open(run_dir)
    run.take_lock()
    try:
        config = yaml.safe_load(run.read_text("config.yaml") or "{}") or {}
        section = dict(((config.get("tracking") or {}).get("mlflow")) or {})
        if uri:
            section["uri"] = uri
        if experiment:
            section["experiment"] = experiment
        record = run.manifest.mlflow
        settings = settings_from(
            {**config, "tracking": {"mlflow": section}},
            recorded_uri=record.uri if record else None,
        )
        assert settings is not None  # the section is there
        require_mlflow()
        tracker = Tracker(settings, strict=True)
        before = record.run_id if record else None
        run_id = open_mlflow_run(tracker, run)
        assert run_id is not None  # strict: a failure raised
        upload_run(tracker, run)
        record = run.manifest.mlflow
        return SyncResult(
            run.path,
            tracker.uri,
            run_id,
            STATUS.get(run.manifest.status, "RUNNING"),
            created=run_id != before,
            url=record.web_url() if record is not None and record.run_id == run_id else None,
        )
    finally:
        run.release()
