"""What a run folder puts into its MLflow run: params, tags, metrics, artifacts and status.

Everything is read from the run folder's files (``config.yaml``, ``metrics.csv``,
``run.json``, ``plots/``...), so the end of a live run and a later ``dltrain sync`` upload the
same things, and uploading twice changes nothing: params already logged are kept, metrics are
logged only for the (key, epoch) pairs the MLflow run lacks, artifacts are overwritten.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

import yaml

from dltrain.config.diff import flatten, format_value
from dltrain.storage import RunFolder
from dltrain.storage.manifest import MlflowRecord
from dltrain.tracking.client import Tracker
from dltrain.utils.urls import public_url

__all__ = [
    "ARTIFACTS",
    "STATUS",
    "config_params",
    "experiment_id_of",
    "log_epoch",
    "mlflow_key",
    "open_mlflow_run",
    "run_tags",
    "upload_run",
]

STATUS = {
    "created": "RUNNING",
    "running": "RUNNING",
    "completed": "FINISHED",
    "failed": "FAILED",
    "interrupted": "KILLED",
}
"""run.json's status -> the MLflow run's status."""

ARTIFACTS = ("config.yaml", "model.txt", "metrics.csv", "run.json")
"""Files uploaded from the run folder's top level (plus ``plots/``, and ``best.keras`` when
``log_models`` is true)."""

# MLflow's limits (mlflow.utils.validation): key length, value lengths, entities per request.
_MAX_KEY = 250
_MAX_PARAM_VALUE = 6000
_MAX_TAG_VALUE = 8000
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- :]")
_PARENT_TAG = "mlflow.parentRunId"

Item = TypeVar("Item")


def mlflow_key(key: str) -> str:
    """A dotted config key or metric name as MLflow accepts it: ``layers[0]`` -> ``layers.0``.

    MLflow keys may hold letters, digits, ``_ - . / : `` and spaces, up to 250 characters.
    """
    key = re.sub(r"\[(\d+)\]", r".\1", key)
    return _BAD_KEY_CHARS.sub("_", key)[:_MAX_KEY]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def config_params(config: Mapping[str, Any]) -> dict[str, str]:
    """The resolved config as MLflow params: the dotted ``--set`` keys, values as in YAML.

    ``tracking`` is left out: where a run is logged is not how it was trained.
    """
    data = {k: v for k, v in config.items() if k != "tracking"}
    return {
        mlflow_key(key): _clip(format_value(value), _MAX_PARAM_VALUE)
        for key, value in flatten(data).items()
    }


def run_tags(run: RunFolder, config: Mapping[str, Any], extra: Mapping[str, str]) -> dict[str, str]:
    """Seed, data fingerprint, versions, where the run folder is, and the user's tags."""
    manifest = run.manifest
    tags = {
        "dltrain.run_dir": str(run.path.resolve()),
        "dltrain.status": manifest.status,
    }
    if manifest.seed is not None:
        tags["dltrain.seed"] = str(manifest.seed)
    if manifest.config_hash:
        tags["dltrain.config_hash"] = manifest.config_hash
    fingerprint = manifest.data.fingerprint if manifest.data else None
    if fingerprint:
        canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=str)
        # The hash identifies the data across runs; the JSON says what it was.
        tags["dltrain.data_fingerprint"] = hashlib.sha256(canonical.encode()).hexdigest()
        tags["dltrain.data"] = _clip(canonical, _MAX_TAG_VALUE)
    for name, version in manifest.versions.items():
        tags[f"dltrain.version.{mlflow_key(name)}"] = version
    if config.get("description"):
        tags["mlflow.note.content"] = _clip(str(config["description"]), _MAX_TAG_VALUE)
    tags.update({mlflow_key(k): _clip(str(v), _MAX_TAG_VALUE) for k, v in extra.items()})
    return tags


def _chunks(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def experiment_id_of(tracker: Tracker, name: str) -> str | None:
    """The id of experiment ``name``, created when missing."""
    from mlflow.exceptions import MlflowException

    client = tracker.client

    def get_or_create() -> str:
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(client.create_experiment(name))
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            # Another run created it meanwhile.
            return str(client.get_experiment_by_name(name).experiment_id)

    return tracker.call(f"open experiment {name!r}", get_or_create)


def _existing_run(tracker: Tracker, record: MlflowRecord | None) -> str | None:
    """The recorded MLflow run, when it is on this server and still there."""
    if record is None or record.uri != tracker.uri:
        return None
    from mlflow.exceptions import MlflowException

    def get() -> str | None:
        try:
            return str(tracker.client.get_run(record.run_id).info.run_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None  # deleted there (or a fresh server): start a new one
            raise

    return tracker.call("read the recorded run", get)


def open_mlflow_run(tracker: Tracker, run: RunFolder) -> str | None:
    """Continue the MLflow run ``run.json`` records on this server, or start one.

    The run id goes into ``run.json`` at once, so a resume or a sync continues it.
    """
    settings = tracker.settings
    run_id = _existing_run(tracker, run.manifest.mlflow)
    if run_id is not None:
        tracker.call("mark the run running", tracker.client.update_run, run_id, "RUNNING")
        tracker.run_id = run_id
        return run_id
    if tracker.failed is not None:
        return None
    experiment_id = experiment_id_of(tracker, settings.experiment)
    if experiment_id is None:
        return None
    tags = {_PARENT_TAG: settings.parent_run_id} if settings.parent_run_id else {}
    name = settings.run_name or f"{run.path.parent.name}-{run.path.name}"
    created = tracker.call(
        "start a run", tracker.client.create_run, experiment_id, tags=tags, run_name=name
    )
    if created is None:
        return None
    tracker.run_id = str(created.info.run_id)
    run.update(
        mlflow=MlflowRecord(
            uri=public_url(settings.uri), experiment_id=experiment_id, run_id=tracker.run_id
        )
    )
    return tracker.run_id


def log_epoch(tracker: Tracker, epoch: int, row: Mapping[str, float]) -> None:
    """One epoch's metrics (every ``metrics.csv`` column but ``epoch``), step = epoch."""
    from mlflow.entities import Metric

    if tracker.run_id is None:
        return
    now = int(time.time() * 1000)
    metrics = [Metric(mlflow_key(k), float(v), now, epoch) for k, v in row.items() if k != "epoch"]
    tracker.call(f"log epoch {epoch}", tracker.client.log_batch, tracker.run_id, metrics=metrics)


def _missing_metrics(
    tracker: Tracker, run_id: str, wanted: Mapping[str, dict[int, float]]
) -> Iterable[Any]:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    for key, by_step in wanted.items():
        history = tracker.call(f"read metric {key}", tracker.client.get_metric_history, run_id, key)
        if history is None:
            return
        have = {m.step for m in history}
        for step, value in by_step.items():
            if step not in have:
                yield Metric(key, value, now, step)


def _wanted_metrics(run: RunFolder) -> dict[str, dict[int, float]]:
    manifest = run.manifest
    wanted: dict[str, dict[int, float]] = {}
    for row in run.metric_rows(manifest.epochs_completed or 10**9):
        epoch = int(row["epoch"])
        for key, value in row.items():
            if key != "epoch":
                wanted.setdefault(mlflow_key(key), {})[epoch] = float(value)
    test = manifest.final_metrics.get("test") or {}
    step = manifest.epochs_completed or 0
    for key, value in test.items():
        wanted.setdefault(mlflow_key(f"test_{key}"), {})[step] = float(value)
    return wanted


def upload_run(tracker: Tracker, run: RunFolder, status: str | None = None) -> bool:
    """Upload what ``run`` holds to ``tracker.run_id`` and set its status.

    Args:
        status: the MLflow status to end with; default: mapped from ``run.json``'s status.

    Returns:
        Whether everything was uploaded.
    """
    run_id = tracker.run_id
    if run_id is None:
        return False
    client = tracker.client
    config = yaml.safe_load(run.read_text("config.yaml") or "{}") or {}
    from mlflow.entities import Param, RunTag

    logged = tracker.call("read the run's params", client.get_run, run_id)
    have = dict(logged.data.params) if logged is not None else {}
    params = config_params(config)
    tags = run_tags(run, config, tracker.settings.tags)
    # Params cannot change in MLflow: a value a forced --resume changed becomes a tag.
    for key, value in params.items():
        if key in have and have[key] != value:
            tags[mlflow_key(f"changed_on_resume.{key}")] = value
    new = [Param(k, v) for k, v in params.items() if k not in have]
    for batch in _chunks(new, _PARAMS_PER_BATCH):
        tracker.call("log params", client.log_batch, run_id, params=batch)
    tag_list = [RunTag(k, v) for k, v in tags.items()]
    for tag_batch in _chunks(tag_list, _PARAMS_PER_BATCH):
        tracker.call("set tags", client.log_batch, run_id, tags=tag_batch)
    metrics = list(_missing_metrics(tracker, run_id, _wanted_metrics(run)))
    for metric_batch in _chunks(metrics, _METRICS_PER_BATCH):
        tracker.call("log metrics", client.log_batch, run_id, metrics=metric_batch)
    for name in ARTIFACTS:
        if (run.path / name).is_file():
            tracker.call(f"upload {name}", client.log_artifact, run_id, str(run.path / name))
    if run.plots.is_dir() and any(run.plots.iterdir()):
        tracker.call("upload plots", client.log_artifacts, run_id, str(run.plots), "plots")
    best = run.checkpoints / "best.keras"
    if tracker.settings.log_models and best.is_file():
        tracker.call("upload best.keras", client.log_artifact, run_id, str(best), "checkpoints")
    final = status or STATUS.get(run.manifest.status, "RUNNING")
    if final == "RUNNING":
        tracker.call("mark the run running", client.update_run, run_id, "RUNNING")
    else:
        tracker.call(f"mark the run {final}", client.set_terminated, run_id, final)
    return tracker.failed is None
