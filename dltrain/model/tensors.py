"""Small helpers on symbolic Keras tensors shared by the sequential and functional builders."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import keras

__all__ = ["call_layer", "format_shape", "is_float32", "shapes_compatible", "to_float32"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def format_shape(shape: Any) -> str:
    """``(None, 28, 28)``; nested structures (several outputs) as a list of shapes."""
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def shapes_compatible(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    """Same rank, and each axis equal where both are known."""
    if len(a) != len(b):
        return False
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def call_layer(layer: keras.layers.Layer, tensors: list[Any]) -> Any:
    """Apply ``layer`` to one tensor, or to several.

    Merge layers (``Concatenate``, ``Add``, ``Attention``) take one list; layers whose
    ``call`` needs several tensors (``MultiHeadAttention(query, value)``) take them as
    positional arguments. The call signature tells which.
    """
    if len(tensors) == 1:
        return layer(tensors[0])
    params = inspect.signature(layer.call).parameters.values()
    required = [p for p in params if p.kind in _POSITIONAL and p.default is p.empty]
    if len(required) >= 2:
        return layer(*tensors)
    return layer(tensors)


def is_float32(tensor: Any) -> bool:
    """Whether a tensor is float32, or not floating-point at all."""
    dtype = str(keras.backend.standardize_dtype(tensor.dtype))
    return dtype == "float32" or not dtype.startswith(("float", "bfloat"))


def to_float32(tensor: Any, name: str) -> Any:
    """Cast an output to float32 with a named layer, so losses are computed in float32."""
    return keras.layers.Activation("linear", dtype="float32", name=name)(tensor)
