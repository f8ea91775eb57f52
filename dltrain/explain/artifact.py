"""Scoring an exported model (TFLite, ONNX, SavedModel) for permutation importance.

An artifact only predicts; the loss and the first metric are computed by Keras on its
predictions, with the run's own compile arguments on a model that passes its inputs
through (``keras.layers.Identity``), so they are the numbers ``dltrain eval`` would give
for predictions like these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.data.spec import DataSpec
from dltrain.explain.permutation import Score
from dltrain.export.runtime import predict_in_batches

if TYPE_CHECKING:
    import keras

    from dltrain.config.schema import ExperimentConfig
    from dltrain.export.base import Runtime

__all__ = ["artifact_score"]


def artifact_score(
    runtime: Runtime,
    trained: keras.Model,
    config: ExperimentConfig,
    spec: DataSpec,
    y: Any,
    batch: int,
) -> tuple[Score, keras.Model]:
    """A :data:`~dltrain.explain.permutation.Score` of ``runtime`` on targets ``y``, and the
    pass-through model that computes it (its compiled metrics say which way is better).

    ``trained`` (the run's Keras checkpoint) names the outputs, so per-output losses and
    metrics of the config find theirs.
    """
    import keras
    import tensorflow as tf

    from dltrain.model.compile import compile_arguments, output_names

    names = output_names(trained)
    inputs = [keras.Input((t.units,), name=f"predicted_{i}") for i, t in enumerate(spec.targets)]
    outputs = [keras.layers.Identity(name=name)(x) for name, x in zip(names, inputs, strict=True)]
    passing = keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0])
    arguments = compile_arguments(passing, config.model_copy(deep=True), spec)
    passing.compile(
        loss=arguments["loss"],
        loss_weights=arguments["loss_weights"],
        metrics=arguments["metrics"],
        jit_compile=False,
    )

    def score(x: dict[str, np.ndarray]) -> dict[str, float]:
        predicted: Sequence[np.ndarray] = predict_in_batches(
            runtime, {k: _runtime_array(v) for k, v in x.items()}, batch
        )
        value = predicted[0] if len(predicted) == 1 else tuple(predicted)
        data = tf.data.Dataset.from_tensor_slices((value, y)).batch(batch)
        logs = passing.evaluate(data, return_dict=True, verbose=0)
        return {k: float(v) for k, v in logs.items()}

    return score, passing


def _runtime_array(values: np.ndarray) -> np.ndarray:
    """tf.data hands text out as bytes; the runtimes take Python strings (as predict does)."""
    if values.dtype == object:
        decoded: np.ndarray = np.char.decode(values.astype(bytes), "utf-8")
        return decoded
    return values
