"""Per-token attributions of a text model: integrated gradients through the embedding.

Tokens are discrete, so the path runs through the embedding's output instead: the model is
split at its ``Embedding`` layer into ``raw text -> token ids`` (the saved
``TextVectorization``) and ``embedded sequence -> output`` (a functional sub-model from the
embedding's output). A token's attribution is the sum over its embedding dimensions; the
baseline is the padding token's embedding at every position (id 0: "no text"), so padding
positions get exactly zero and the attributions of the tokens shown sum to
``f(x) - f(baseline)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.errors import UsageError
from dltrain.explain.gradients import integrated_gradients

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = ["EmbeddingSplit", "TokenAttributions", "split_at_embedding", "token_attributions"]


@dataclass
class EmbeddingSplit:
    """The model cut at its embedding layer."""

    ids: keras.Model
    """Raw inputs -> token ids (the model's own TextVectorization)."""
    embedding: Any
    tail: keras.Model
    """Embedded sequence -> the model's first output."""


@dataclass
class TokenAttributions:
    """Token ids, their attributions (rows x sequence length) and the path's end scores."""

    ids: np.ndarray
    attributions: np.ndarray
    f_x: np.ndarray
    f_baseline: np.ndarray


def split_at_embedding(model: keras.Model) -> EmbeddingSplit:
    """Cut ``model`` at its first top-level ``Embedding`` layer.

    Raises:
        UsageError: no Embedding layer, or the output depends on more than the embedded
            text (another input joins after the embedding).
    """
    import keras

    layer = next((lay for lay in model.layers if isinstance(lay, keras.layers.Embedding)), None)
    if layer is None:
        raise UsageError(
            f"model {model.name!r} has no Embedding layer; token attributions need a text "
            "column in output_mode int feeding an Embedding"
        )
    outputs = model.outputs[0] if isinstance(model.outputs, list) else model.outputs
    try:
        tail = keras.Model(layer.output, outputs)
    except ValueError as exc:
        raise UsageError(
            f"model {model.name!r}: its output depends on more than the embedded text ({exc}); "
            "token attributions need a model whose other inputs do not join after the "
            "Embedding"
        ) from None
    return EmbeddingSplit(keras.Model(model.inputs, layer.input), layer, tail)


def token_attributions(
    split: EmbeddingSplit,
    inputs: Mapping[str, np.ndarray],
    units: np.ndarray,
    *,
    steps: int,
) -> TokenAttributions:
    """Integrated gradients of unit ``units[i]`` for each row's tokens."""
    import tensorflow as tf

    value: Any = next(iter(inputs.values())) if len(inputs) == 1 else dict(inputs)
    ids = np.asarray(split.ids(value, training=False)).astype(np.int64)
    embedded = np.asarray(split.embedding(tf.constant(ids)))

    def forward(x: tf.Tensor, rows: np.ndarray) -> tf.Tensor:
        out = split.tail(x, training=False)
        out = tf.reshape(out, (tf.shape(out)[0], -1))
        return tf.gather(out, tf.constant(units[rows]), axis=1, batch_dims=1)

    baseline = np.asarray(split.embedding(tf.zeros(ids.shape[1:], dtype=tf.int64)))
    attributions, f_x, f_b = integrated_gradients(forward, embedded, baseline, steps=steps)
    return TokenAttributions(ids, attributions.sum(axis=-1), f_x, f_b)
