"""What the gradient methods differentiate: one output unit of the saved model per example,
as a function of one of its raw inputs (the others held at the example's values)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.explain.gradients import Forward

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = ["call_model", "explained_units", "model_forward", "predict_first"]


def call_model(model: keras.Model, inputs: Mapping[str, Any]) -> tf.Tensor:
    """The model's first output, 2-D, for raw inputs by name (a one-input model gets the
    tensor itself: Sequential models take no dict)."""
    import tensorflow as tf

    # Tensors only: Keras refuses a dict mixing tensors and arrays (the text columns' arrays).
    tensors = {k: v if tf.is_tensor(v) else tf.constant(v) for k, v in inputs.items()}
    value: Any = next(iter(tensors.values())) if len(tensors) == 1 else tensors
    out = model(value, training=False)
    if isinstance(out, (list, tuple)):
        out = out[0]
    elif isinstance(out, dict):
        out = next(iter(out.values()))
    return tf.reshape(out, (tf.shape(out)[0], -1))


def predict_first(
    model: keras.Model, inputs: Mapping[str, np.ndarray], batch: int = 256
) -> np.ndarray:
    """:func:`call_model` over ``inputs`` in batches, as NumPy (examples x units).

    An output trained on logits comes back as probabilities (the sigmoid of one unit, the
    softmax of several), so that the confidences, captions and binary predictions shown read
    as the run's report does; the gradient methods still differentiate the logit, whose
    gradients do not vanish where the probability saturates.
    """
    from dltrain.report.evaluation import logit_outputs, logits_to_probabilities

    n = len(next(iter(inputs.values())))
    parts = [
        np.asarray(call_model(model, {k: v[s : s + batch] for k, v in inputs.items()}))
        for s in range(0, n, batch)
    ]
    predictions = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
    if logit_outputs(model)[:1] == [True]:
        return logits_to_probabilities(predictions)
    return predictions


def explained_units(predictions: np.ndarray) -> np.ndarray:
    """Which output unit each example's explanation is about: the predicted class of a
    softmax output; unit 0 of a one-unit output (a binary target's positive class, a
    regression value)."""
    if predictions.shape[1] == 1:
        return np.zeros(len(predictions), dtype=np.int64)
    units: np.ndarray = np.argmax(predictions, axis=1).astype(np.int64)
    return units


def model_forward(
    model: keras.Model,
    name: str,
    inputs: Mapping[str, np.ndarray],
    units: np.ndarray,
) -> Forward:
    """A :data:`~dltrain.explain.gradients.Forward` of input ``name``: every other input of
    the example at ``rows[j]`` is held at its value, and the score is unit ``units[row]``."""
    import tensorflow as tf

    others = {k: v for k, v in inputs.items() if k != name}

    def forward(x: tf.Tensor, rows: np.ndarray) -> tf.Tensor:
        batch: dict[str, Any] = {k: v[rows] for k, v in others.items()}
        batch[name] = x
        ordered = {k: batch[k] for k in inputs}  # the model's input order
        out = call_model(model, ordered)
        return tf.gather(out, tf.constant(units[rows]), axis=1, batch_dims=1)

    return forward
