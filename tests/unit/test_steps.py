"""Batches per execution and evaluation batch sizes: pure arithmetic, no Keras."""

from __future__ import annotations

from dltrain.data.pipeline import evaluation_batch_size
from dltrain.train.steps import execution_steps


def test_executions_end_on_epoch_boundaries() -> None:
    assert [execution_steps(1875, 16), execution_steps(8, 3), execution_steps(7, 16)] == [15, 2, 7]
    assert execution_steps(13, 4) == 1  # a prime number of steps: one batch per execution


def test_evaluation_batches_divide_the_split_where_they_can() -> None:
    # One shape, one trace/compilation.
    assert evaluation_batch_size(32, 60_000, 10_000) == 250
    assert evaluation_batch_size(512, 60_000, 10_000) == 500
    assert evaluation_batch_size(32, 60_000, 257) == 256  # no divisor near 256
    assert evaluation_batch_size(32, 60_000) == 256
    assert evaluation_batch_size(32, 100, 1000) == 100  # never beyond the training set
