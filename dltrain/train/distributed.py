"""Multi-worker training: who writes the run folder, and two Keras workarounds.

``model.fit`` under ``MultiWorkerMirroredStrategy`` fails in Keras 3 (seen with TF 2.21 /
Keras 3.15; keras-team/keras#20585, tensorflow/tensorflow#72388) for two reasons, both in
``keras/src/backend/tensorflow/trainer.py``:

1. ``_maybe_symbolic_build`` reduces the first *input batch* with ``strategy.reduce`` only to
   learn its shapes; the collective strategy cannot reduce a nested batch and raises
   "Attempt to convert a value (PerReplica...) to a Tensor". We build the model, its loss,
   metrics and optimizer ourselves from an undistributed batch first, after which that step
   has nothing to do, and skip it.
2. ``reduce_per_replica`` averages the per-replica *scalar* logs with
   ``strategy.reduce("MEAN", v, axis=0)``, which fails on rank-0 values. We reduce scalars with
   ``axis=None`` (the mean across replicas) and leave everything else to Keras.

Both patches apply only while a multi-worker run trains (:func:`multi_worker_fit`), so
single-machine runs use Keras untouched; everything else (callbacks, metrics, checkpoints,
resume points) is the same code path as on one machine.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dltrain.errors import UsageError

__all__ = ["WorkerRole", "follows_chief", "multi_worker_fit", "worker_role", "worker_scratch"]


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in the ``TF_CONFIG`` cluster."""

    index: int
    workers: int
    task_type: str
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The chief (or worker 0 when there is no chief) writes the run folder."""
        if self.has_chief:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.index == 0


def worker_role() -> WorkerRole:
    """Read ``TF_CONFIG``.

    Raises:
        UsageError: it is missing or malformed (multi-worker training needs it).
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UsageError(
            "distribute.strategy multi_worker_mirrored needs the TF_CONFIG environment variable "
            "describing the cluster (see docs/distributed.md), or use `dltrain launch`"
        )
    try:
        spec = json.loads(text)
        cluster = spec["cluster"]
        task = spec["task"]
        workers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
        return WorkerRole(int(task["index"]), workers, str(task["type"]), "chief" in cluster)
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"TF_CONFIG is not a valid cluster description: {exc}") from exc


def _prebuild(model: Any, batch: Any) -> None:
    """Create the model's, loss's, metrics' and optimizer's variables from a local batch."""
    x, y = batch
    model._symbolic_build(data_batch=(x, y, None))
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


@contextmanager
def multi_worker_fit(model: Any, strategy: Any, local_batch: Any) -> Iterator[None]:
    """Let ``model.fit`` / ``evaluate`` / ``predict`` run under a multi-worker strategy."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    needed = (
        "reduce_per_replica",
        "_collective_all_reduce_multi_worker",
        "_is_per_replica_instance",
    )
    if not all(hasattr(tf_trainer, name) for name in needed) or not hasattr(
        model, "_symbolic_build"
    ):
        import keras

        raise UsageError(
            f"multi-worker training relies on Keras internals that Keras {keras.__version__} "
            "does not have (written against Keras 3.15); use a single-machine strategy"
        )
    with strategy.scope():
        _prebuild(model, local_batch)
    original_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):

            def mean(value: Any) -> Any:
                if not tf_trainer._is_per_replica_instance(value):
                    return value
                axis = None if value.values[0].shape.rank == 0 else 0
                return strategy.reduce("MEAN", value, axis=axis)

            return tf.nest.map_structure(mean, values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.reduce_per_replica = reduce_per_replica
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original_reduce
        del model._maybe_symbolic_build


@contextmanager
def worker_scratch(strategy: str) -> Iterator[Path | None]:
    """A private runs folder for multi-worker processes other than the chief, removed after."""
    if strategy != "multi_worker_mirrored":
        yield None
        return
    if worker_role().is_chief:
        yield None
        return
    scratch = Path(tempfile.mkdtemp(prefix="dltrain-worker-"))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def follows_chief(strategy: str | None) -> bool:
    """Whether this process resumes a multi-worker run as a non-chief worker.

    Such a worker restores the chief's resume point from the chief's run folder (a shared
    filesystem on real clusters, docs/distributed.md) and trains into a private folder.

    Raises:
        UsageError: a multi-worker run without a valid ``TF_CONFIG``.
    """
    return strategy == "multi_worker_mirrored" and not worker_role().is_chief
