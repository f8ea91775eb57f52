"""SavedModel: written by Keras's ``model.export`` with a ``serve`` signature (TF Serving)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.export.runtime import TensorInfo

if TYPE_CHECKING:
    import keras

__all__ = ["SavedModelRuntime", "write_saved_model"]


def write_saved_model(model: keras.Model, path: Path) -> None:
    """Export ``model`` as a SavedModel folder at ``path`` (``serve`` and ``serving_default``)."""
    model.export(str(path), format="tf_saved_model", verbose=False)


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
