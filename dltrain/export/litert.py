"""TFLite: Keras's ``model.export(format="litert")`` (TensorFlow's converter), run by LiteRT.

Only TFLite built-in ops are allowed (Keras would also allow TensorFlow "select" ops), so the
file runs in LiteRT's standalone interpreter on a device without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.export.base import TensorInfo, conversion_error
from dltrain.export.saved_model import output_order

if TYPE_CHECKING:
    import keras

__all__ = ["LiteRtRuntime", "write_tflite"]


def write_tflite(
    model: keras.Model, path: Path, quantize: str, calibration: dict[str, np.ndarray]
) -> None:
    """Convert ``model`` to a ``.tflite`` file at ``path``.

    Args:
        model: The raw-input model.
        path: Output file (must end with ``.tflite``).
        quantize: ``none``; ``dynamic`` (int8 weights, float activations); ``float16``
            (float16 weights); ``int8`` (int8 weights and activations, calibrated on
            ``calibration``; inputs and outputs stay float32).
        calibration: Examples by input name (int8 only).

    Raises:
        ExportError: the converter refused the model.
    """
    import tensorflow as tf

    options: dict[str, Any] = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize != "none":
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        options["target_spec"]["supported_types"] = [tf.float16]
    elif quantize == "int8":
        options["target_spec"]["supported_ops"] = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        options["representative_dataset"] = lambda: _examples(calibration)
    try:
        model.export(str(path), format="litert", verbose=False, **options)
    except Exception as exc:  # noqa: BLE001 - the converter raises many unrelated types
        option = "" if quantize == "none" else f" --quantize {quantize}"
        raise conversion_error(f"--format tflite{option}", exc) from exc


def _examples(calibration: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """One example at a time, by signature input name, as the converter's calibration wants."""
    n = len(next(iter(calibration.values())))
    for i in range(n):
        yield {k: v[i : i + 1] for k, v in calibration.items()}


class LiteRtRuntime:
    """A ``.tflite`` file in LiteRT's interpreter (``ai_edge_litert``), through its signature."""

    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path))
        self._runner = self._interpreter.get_signature_runner()
        inputs = self._runner.get_input_details()
        outputs = self._runner.get_output_details()
        self.inputs = [_info(name, d) for name, d in sorted(inputs.items())]
        self._keys = output_order(list(outputs))
        self.outputs = [_info(k, outputs[k]) for k in self._keys]

    def predict(self, x: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs for one batch (the interpreter resizes its inputs to the batch)."""
        result = self._runner(**{i.name: x[i.name] for i in self.inputs})
        return [np.array(result[k]) for k in self._keys]


def _info(name: str, detail: dict[str, Any]) -> TensorInfo:
    signature = detail.get("shape_signature", detail["shape"])
    shape = tuple(None if int(d) < 0 else int(d) for d in signature)
    dtype = np.dtype(detail["dtype"]).name if detail["dtype"] is not np.bytes_ else "string"
    return TensorInfo(name, shape, "string" if dtype in ("bytes_", "object", "str_") else dtype)
