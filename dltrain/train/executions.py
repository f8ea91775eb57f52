"""How training steps execute: the train step traced once, and fused executions.

**Traced once.** Without a distribution strategy Keras builds nothing before the train function
is first traced: the optimizer creates its slots (Adam's moments, say) inside that trace, and
TensorFlow, which lets a function create variables only on its first trace, traces it a second
time to lift them out. Tracing Keras's train step is most of a second on a CPU (the classic MLP,
0.42 s a trace), paid at the start of the first epoch. :func:`build_optimizer` builds the
optimizer's slots before ``fit``, exactly as its first step would (the same variables, zeros),
so the step is traced once.

**Fused executions.**

Keras (3.15, TensorFlow backend) runs ``steps_per_execution`` training steps as a
``tf.while_loop`` in a TensorFlow graph around the XLA-compiled step: every step launches its
own XLA program, and the loop wraps each batch and each step's logs in
``tf.experimental.Optional`` and branches on them with ``tf.cond``. For a model whose step is
short (the classic MLP: about a millisecond a step on a CPU) that machinery is about a fifth
of the epoch (its steady epoch: 2.2-2.8 s through Keras's loop, 1.9-2.2 s fused, alternating
runs; docs/benchmarks.md).

:func:`fused_executions` replaces the model's train function, while ``model.fit`` runs, with one
that takes the execution's batches from the iterator in the graph, stacks them, and runs the
steps as a ``tf.while_loop`` *inside* one XLA program. Each step is Keras's own ``train_step``
on the same batch in the same order, so the weights, the optimizer's state, the metrics and
the layers' random draws follow the same sequence (the tests compare runs both ways); one
program launch per execution is what changes.

It applies only where it is safe by construction:

- the model's train step and ``compute_metrics`` are Keras's own (not overridden: adversarial
  training and distillation keep Keras's function), so that the logs of an execution are the
  metrics' results after its last step, and Keras compiles the step with XLA
  (``model.jit_compile``);
- one device, no distribution strategy;
- batches of one shape (every dimension but the batch's known, no ragged or sparse tensors),
  so that they stack, and an execution's batches within :data:`MAX_STACKED_BYTES` (64 MiB);
- more than one step per execution, and executions that end on an epoch's last batch, which
  dltrain's training datasets guarantee (:func:`dltrain.train.steps.execution_steps`). Where
  the epoch ends with a smaller batch, that batch is always an execution's last: the loop then
  stacks the others and the last runs as a step of its own, as Keras runs it. The loop's step
  is traced for the full batch, not an unknown one: XLA needs every shape inside the loop when
  the graph is built (an LSTM's gradient loop failed without).

An execution never has to stop early: the training dataset spans every remaining epoch. If it
did run out, ``next`` raises ``OutOfRangeError`` as Keras's own loop ends, and Keras ends the
epoch the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras

__all__ = ["MAX_STACKED_BYTES", "build_optimizer", "fused_executions", "fuses"]


def build_optimizer(model: keras.Model, *, distributed: bool) -> None:
    """Create the optimizer's slots for ``model``'s trainable weights now, not in the first
    trace (see the module), where the model trains with Keras's own step (a custom step, as in
    the adversarial or distilling wrappers, may apply its gradients to other weights) and
    without a distribution strategy (Keras builds it in the strategy's scope itself)."""
    optimizer = model.optimizer
    if not distributed and optimizer is not None and not optimizer.built and _keras_step(model):
        optimizer.build(model.trainable_variables)


def _keras_step(model: keras.Model) -> bool:
    """Whether ``model`` trains with Keras's own step (``train_step`` not overridden)."""
    return type(model).train_step is keras.Model.train_step


MAX_STACKED_BYTES = 64 << 20
"""Fused executions hold an execution's batches at once, stacked: above this many bytes (say,
16 batches of 32 photos of 224 x 224 x 3 as float32: 308 MB) Keras's loop, which holds one
batch at a time, is kept."""


def fuses(model: keras.Model, dataset: Any, *, distributed: bool, batch: int) -> bool:
    """Whether :func:`fused_executions` replaces ``model``'s train function for training on
    ``dataset`` (a batched ``tf.data.Dataset``) in batches of ``batch`` (see the module)."""
    return (
        not distributed
        and bool(model.jit_compile)
        and not model.run_eagerly
        and int(model.steps_per_execution) > 1
        and _keras_step(model)
        and type(model).compute_metrics is keras.Model.compute_metrics
        and _stackable(dataset.element_spec, int(model.steps_per_execution) * batch)
    )


def _stackable(spec: Any, examples: int) -> bool:
    """Whether ``examples`` examples of ``spec``'s batches stack within the memory bound."""
    import tensorflow as tf

    leaves = tf.nest.flatten(spec)
    if not all(
        type(leaf) is tf.TensorSpec
        and leaf.shape.rank is not None
        and leaf.shape[1:].is_fully_defined()
        and leaf.dtype.size > 0
        for leaf in leaves
    ):
        return False
    per_example = sum(int(leaf.shape[1:].num_elements()) * int(leaf.dtype.size) for leaf in leaves)
    return per_example * examples <= MAX_STACKED_BYTES


@contextmanager
def fused_executions(
    model: keras.Model, dataset: Any, *, distributed: bool, batch: int, smaller_last_batch: bool
) -> Iterator[bool]:
    """Train ``model`` on ``dataset`` with fused executions inside the block, where
    :func:`fuses` allows.

    ``batch``: the training batch size; ``smaller_last_batch``: each epoch ends with a batch
    smaller than the others. Yields whether the executions are fused; the model's own train
    function is back after the block.
    """
    if not fuses(model, dataset, distributed=distributed, batch=batch):
        yield False
        return
    steps = int(model.steps_per_execution)  # fixed while the block runs

    def make_train_function(force: bool = False) -> Any:
        if force or model.train_function is None:
            model.train_function = _fused_function(model, steps, batch, smaller_last_batch)
        return model.train_function

    model.make_train_function = make_train_function
    model.train_function = None
    try:
        yield True
    finally:
        del model.make_train_function
        model.train_function = None


def _fused_function(model: keras.Model, steps: int, batch: int, smaller_last_batch: bool) -> Any:
    import tensorflow as tf

    looped = steps - 1 if smaller_last_batch else steps

    def execution(iterator: Any) -> Any:
        spec = iterator.element_spec
        # Keras's step, traced once for a full batch: XLA needs every shape inside the loop
        # known when the graph is built (an LSTM's gradient loop inside it, say).
        full = tf.nest.map_structure(
            lambda leaf: tf.TensorSpec((batch, *leaf.shape[1:]), leaf.dtype), spec
        )
        step = tf.function(model.train_step, autograph=False).get_concrete_function(full)

        def loop(stacked: Any) -> Any:
            def body(index: Any) -> Any:
                step(tf.nest.map_structure(lambda tensor: tensor[index], stacked))
                return index + 1

            tf.while_loop(lambda index: index < looped, body, [tf.constant(0)])
            # What Keras's train_step returns after its last step (``compute_metrics``).
            return model.get_metrics_result()

        # The batches are gathered by a graph loop (a Python loop of ``next`` is refused past
        # 32 calls), then stacked: the copy of one execution's batches is all this adds.
        def gather(index: Any, arrays: list[Any]) -> tuple[Any, list[Any]]:
            pairs = zip(arrays, tf.nest.flatten(next(iterator)), strict=True)
            return index + 1, [array.write(index, tensor) for array, tensor in pairs]

        arrays = [
            tf.TensorArray(leaf.dtype, size=looped, element_shape=leaf.shape)
            for leaf in tf.nest.flatten(full)
        ]
        _, arrays = tf.while_loop(lambda index, _: index < looped, gather, (tf.constant(0), arrays))
        stacked = tf.nest.pack_sequence_as(full, [array.stack() for array in arrays])
        logs = tf.function(loop, jit_compile=True, autograph=False)(stacked)
        if smaller_last_batch:
            # An execution's last batch, full or smaller, as Keras runs it: a step of its own,
            # traced with the batch dimension unknown.
            last = tf.function(model.train_step, jit_compile=True, autograph=False)
            logs = last(next(iterator))
        return logs

    return tf.function(execution, autograph=False)
