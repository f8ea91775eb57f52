"""ONNX: Keras's ``model.export(format="onnx")`` (tf2onnx), run by onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dltrain.export.runtime import TensorInfo

if TYPE_CHECKING:
    import keras

__all__ = ["OnnxRuntime", "onnx_opset", "write_onnx"]

_DTYPES = {"tensor(float)": "float32", "tensor(string)": "string", "tensor(int64)": "int64"}


def write_onnx(model: keras.Model, path: Path) -> None:
    """Export ``model`` as an ONNX file at ``path`` (tf2onnx's default opset).

    The input signature is given explicitly: Keras infers it only for a model that has
    been called, and the raw-input wrapper of an image model has not.
    """
    import tensorflow as tf

    specs = {i.name: tf.TensorSpec(i.shape, i.dtype, name=i.name) for i in model.inputs}
    signature = [next(iter(specs.values()))] if len(specs) == 1 else [specs]
    model.export(str(path), format="onnx", verbose=False, input_signature=signature)


def onnx_opset(path: Path) -> int:
    """The default-domain opset the ONNX file was written for."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next(int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx"))


class OnnxRuntime:
    """An ONNX file in an onnxruntime CPU session."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.inputs = [_info(i) for i in self._session.get_inputs()]
        self.outputs = [_info(o) for o in self._session.get_outputs()]

    def predict(self, x: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs for one batch."""
        feed = {i.name: x[i.name] for i in self.inputs}
        return [np.asarray(o) for o in self._session.run(None, feed)]


def _info(node: object) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else None for d in getattr(node, "shape", ()))
    kind = str(getattr(node, "type", ""))
    return TensorInfo(str(getattr(node, "name", "")), shape, _DTYPES.get(kind, kind))
