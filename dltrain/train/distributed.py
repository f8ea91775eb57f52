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

A third one makes ``steps_per_execution > 1`` work there:

3. Keras runs several steps per execution in a ``tf.while_loop`` over
   ``iterator.get_next_as_optional()``, each step inside a ``tf.cond`` on ``has_value()``.
   Under the collective strategy that graph fails at run time with "You must feed a value
   for placeholder tensor 'while/body/.../while/cond/Placeholder' with dtype int32": a
   distributed optional's ``get_next_as_optional`` (workers agree whether any has data, by
   an all-reduce) inside ``tf.cond`` inside the loop leaves an unfed capture in the branch.
   The same steps as a plain loop of ``next(iterator)`` run fine (and give the same losses
   as one step per execution). A plain loop cannot stop early at the end of the data, but
   dltrain's training dataset spans every remaining epoch and each execution ends on an
   epoch's last batch (:func:`dltrain.train.loop.execution_steps`), so it never needs to.
   Evaluation runs one step per execution (finite data, where stopping early matters).

The patches apply only while a multi-worker run trains (:func:`multi_worker_fit`), so
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
    model.make_train_function = lambda force=False: _make_function(model, model.train_step)
    model.make_test_function = lambda force=False: _make_function(model, model.test_step, 1)
    model.train_function = model.test_function = None
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original_reduce
        del model._maybe_symbolic_build, model.make_train_function, model.make_test_function
        model.train_function = model.test_function = None


def _make_function(model: Any, step: Any, steps: int | None = None) -> Any:
    """Keras's train/test function as a plain loop of ``steps`` steps (see point 3 above).

    ``steps`` defaults to the model's ``steps_per_execution`` when the function is traced.
    Keras sets the function once per fit/evaluate (``make_*_function`` is called each time;
    the traced function is kept while the model's step count stays the same).
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    attribute = "train_function" if step == model.train_step else "test_function"
    count = steps or int(model.steps_per_execution)
    cached = getattr(model, attribute, None)
    if cached is not None and getattr(cached, "_dltrain_steps", None) == count:
        return cached
    strategy = model.distribute_strategy

    def one_step(data: Any) -> Any:
        outputs = strategy.run(step, args=(data,))
        return tf_trainer.reduce_per_replica(outputs, strategy, reduction="auto")

    def run_steps(iterator: Any) -> Any:
        outputs = one_step(next(iterator))
        for _ in tf.range(count - 1):  # a tf.while_loop; end of data raises OutOfRange
            outputs = one_step(next(iterator))
        return outputs

    function = tf.function(run_steps, reduce_retracing=True)
    function._dltrain_steps = count
    setattr(model, attribute, function)
    return function


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
