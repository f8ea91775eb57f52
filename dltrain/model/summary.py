"""``summarize_model``: the layer table ``dltrain check`` shows and ``model.txt`` holds."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import keras

from dltrain.model.tensors import format_shape
from dltrain.utils.units import format_bytes

__all__ = ["LayerRow", "ModelSummary", "summarize_model"]

_BITS = re.compile(r"(\d+)$")


@dataclass(frozen=True)
class LayerRow:
    """One layer of the table."""

    name: str
    class_name: str
    output_shape: str
    params: int


@dataclass(frozen=True)
class ModelSummary:
    """Layers, parameter counts and the memory the weights take."""

    name: str
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    weights_bytes: int = 0

    def to_text(self) -> str:
        """A plain-text table, one layer per line, then the totals."""
        header = ("Layer (type)", "Output shape", "Params")
        cells = [(f"{r.name} ({r.class_name})", r.output_shape, f"{r.params:,}") for r in self.rows]
        widths = [max(len(row[i]) for row in [header, *cells]) for i in range(3)]

        def line(row: tuple[str, str, str]) -> str:
            return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}".rstrip()

        rule = "-" * (sum(widths) + 4)
        lines = [f'Model: "{self.name}"', rule, line(header), rule]
        lines += [line(c) for c in cells]
        lines += [
            rule,
            f"Total params: {self.total_params:,} ({format_bytes(self.weights_bytes)})",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
        ]
        return "\n".join(lines) + "\n"


def summarize_model(model: keras.Model) -> ModelSummary:
    """Describe a built model: its layers, parameter counts and weight memory.

    Args:
        model: A built Keras model.

    Returns:
        The summary; :meth:`ModelSummary.to_text` renders it.
    """
    rows = [
        LayerRow(layer.name, type(layer).__name__, _output_shape(layer), _count(layer.weights))
        for layer in model.layers
    ]
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    return ModelSummary(
        name=model.name,
        rows=rows,
        total_params=trainable + non_trainable,
        trainable_params=trainable,
        non_trainable_params=non_trainable,
        weights_bytes=sum(_size(w) * _itemsize(w.dtype) for w in model.weights),
    )


def _output_shape(layer: keras.layers.Layer) -> str:
    try:
        output = layer.output
    except (AttributeError, ValueError):
        # A shared layer has one output per call; Keras refuses to pick one.
        return "multiple"
    if isinstance(output, list | tuple):
        return format_shape([tuple(o.shape) for o in output])
    if isinstance(output, dict):
        return format_shape([tuple(o.shape) for o in output.values()])
    return format_shape(tuple(output.shape))


def _size(weight: Any) -> int:
    return math.prod(int(d) for d in weight.shape)


def _count(weights: list[Any]) -> int:
    # A weight reached through two paths (shared layers) counts once.
    unique = {id(w): w for w in weights}
    return sum(_size(w) for w in unique.values())


def _itemsize(dtype: Any) -> int:
    """Bytes per element from the dtype's name (``float32`` -> 4, ``bfloat16`` -> 2)."""
    name = str(keras.backend.standardize_dtype(dtype))
    match = _BITS.search(name)
    return max(1, int(match.group(1)) // 8) if match else 1
