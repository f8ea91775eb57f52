"""ONNX: Keras's ``model.export(format="onnx")`` (tf2onnx), run by onnxruntime."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dltrain.errors import ExportError
from dltrain.export.base import TensorInfo, conversion_error
from dltrain.export.saved_model import input_signature

if TYPE_CHECKING:
    import keras

__all__ = ["OnnxRuntime", "onnx_opset", "write_onnx"]

_DTYPES = {
    "tensor(float)": "float32",
    "tensor(string)": "string",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
}


def write_onnx(model: keras.Model, path: Path) -> None:
    """Convert ``model`` with tf2onnx (its default opset) to an ONNX file at ``path``.

    Keras's ``model.export(format="onnx")`` leaves tensors the model captured as constants
    (the training-split mean and variance of CSV normalization) as graph inputs that nobody
    feeds, so the graph is frozen here first, with every capture turned into a constant,
    and handed to tf2onnx as a GraphDef. Inputs keep the Keras input names; outputs are
    named ``output_0``, ``output_1``... in the model's output order, as in the other formats.

    Raises:
        ExportError: tf2onnx refused the model.
    """
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    function = tf.function(lambda *args: model(*args, training=False))
    unsupported = _UnsupportedOps()
    logger = logging.getLogger("tf2onnx")
    logger.addHandler(unsupported)
    try:
        concrete = function.get_concrete_function(*input_signature(model))
        frozen = convert_variables_to_constants_v2(concrete)
        inputs = [t.name for t in frozen.inputs if t.dtype != tf.resource]
        outputs = [t.name for t in frozen.outputs]
        rename = {t: t.split(":")[0] for t in inputs}
        rename.update({t: f"output_{k}" for k, t in enumerate(outputs)})
        tf2onnx.convert.from_graph_def(
            frozen.graph.as_graph_def(),
            input_names=inputs,
            output_names=outputs,
            tensors_to_rename=rename,
            output_path=str(path),
        )
    except Exception as exc:  # noqa: BLE001 - tf2onnx raises many unrelated types
        raise conversion_error("--format onnx", exc) from exc
    finally:
        logger.removeHandler(unsupported)
    if unsupported.ops:
        raise ExportError(unsupported.message())


_COMPLEX_OPS = {"Real", "Imag", "ComplexAbs", "RFFT", "IRFFT", "FFT", "IFFT", "Complex"}


class _UnsupportedOps(logging.Handler):
    """Collects the TensorFlow ops tf2onnx logs as unsupported: it then writes a graph that
    no ONNX runtime can load, instead of failing."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.ops: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("Unsupported ops:"):
            self.ops += re.findall(r"'([A-Za-z0-9_]+)'", text)

    def message(self) -> str:
        ops = sorted(set(self.ops))
        hint = ""
        if _COMPLEX_OPS & set(ops):
            hint = (
                "; these are the complex-number FFT ops of MelSpectrogram (tf.signal.stft): "
                "use STFTSpectrogram, which computes the transform with convolutions and "
                "converts, or export to SavedModel or TFLite"
            )
        return (
            f"--format onnx: tf2onnx cannot convert the TensorFlow op"
            f"{'s' if len(ops) > 1 else ''} {', '.join(ops)}{hint}"
        )


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
