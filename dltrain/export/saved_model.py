"""SavedModel: written by Keras's ``model.export`` with a ``serve`` signature (TF Serving)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.export.base import TensorInfo

if TYPE_CHECKING:
    import keras

__all__ = ["SavedModelRuntime", "input_signature", "write_saved_model"]


def input_signature(model: keras.Model) -> list[Any]:
    """The model's inputs as ``tf.TensorSpec`` (any batch size), named like the Keras inputs.

    One positional argument: a spec for a single-input model, a dict of specs otherwise.
    """
    import tensorflow as tf

    specs = {i.name: tf.TensorSpec(i.shape, i.dtype, name=i.name) for i in model.inputs}
    return [next(iter(specs.values()))] if len(specs) == 1 else [specs]


def write_saved_model(model: keras.Model, path: Path) -> None:
    """Export ``model`` as a SavedModel folder at ``path`` (``serve`` and ``serving_default``).

    Written with ``keras.export.ExportArchive`` rather than ``model.export``: the latter
    traces ``model.__call__`` without ``training=False``, and augmentation layers (such as
    ``RandomFlip``, which default to training mode) would then transform every request.
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        functools.partial(model.__call__, training=False),
        input_signature=input_signature(model),
    )
    archive.write_out(str(path), verbose=False)


def output_order(keys: list[str]) -> list[str]:
    """Signature outputs ``output_0``, ``output_1``, ... in the model's output order."""
    return sorted(keys, key=lambda k: int(k.rsplit("_", 1)[1]) if k[-1].isdigit() else -1)


class SavedModelRuntime:
    """A SavedModel loaded with ``tf.saved_model.load``, called through ``serving_default``."""

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self._loaded = tf.saved_model.load(str(path))
        self._fn = self._loaded.signatures["serving_default"]
        _, kwargs = self._fn.structured_input_signature
        self.inputs = [_info(name, spec) for name, spec in sorted(kwargs.items())]
        outputs = self._fn.structured_outputs
        self._keys = output_order(list(outputs))
        self.outputs = [_info(k, outputs[k]) for k in self._keys]

    def predict(self, x: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs for one batch."""
        import tensorflow as tf

        result = self._fn(**{i.name: tf.constant(x[i.name]) for i in self.inputs})
        return [np.asarray(result[k]) for k in self._keys]


def _info(name: str, spec: Any) -> TensorInfo:
    return TensorInfo(name, tuple(spec.shape.as_list()), spec.dtype.name)
