"""``predict_file``: predictions of a saved model for a CSV or MNIST-format file, as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.spec import DataSpec, TargetInfo
from dltrain.saved_run import open_saved_run
from dltrain.train.environment import quiet_tensorflow

__all__ = ["predict_file", "prediction_columns"]


def _label(target: TargetInfo, index: int) -> str:
    names = target.class_names
    return names[index] if names and 0 <= index < len(names) else str(index)


def prediction_columns(
    targets: list[TargetInfo], outputs: list[np.ndarray]
) -> dict[str, list[Any]]:
    """Output columns per target: the prediction, and for classification label + probabilities.

    Regression: ``<target>``. Binary: ``<target>`` (class label) and ``<target>_probability``
    (of the second class). Multi-class: ``<target>`` and ``<target>_p_<class>`` per class.
    """
    columns: dict[str, list[Any]] = {}
    for target, raw in zip(targets, outputs, strict=True):
        pred = np.asarray(raw, dtype=np.float64)
        name = target.name
        if target.task == "regression":
            columns[name] = [f"{v:.6g}" for v in pred.reshape(len(pred), -1)[:, 0]]
        elif target.task == "binary":
            prob = pred.reshape(len(pred), -1)[:, 0]
            columns[name] = [_label(target, int(p > 0.5)) for p in prob]
            columns[f"{name}_probability"] = [f"{p:.6f}" for p in prob]
        else:
            probs = pred.reshape(len(pred), -1)
            columns[name] = [_label(target, int(i)) for i in probs.argmax(axis=1)]
            for k in range(probs.shape[1]):
                columns[f"{name}_p_{_label(target, k)}"] = [f"{p:.6f}" for p in probs[:, k]]
    return columns


def predict_file(target: Path, input_path: Path, *, checkpoint: str = "best") -> str:
    """Predict every row (or image) of ``input_path``; returns the output CSV text.

    ``target`` is a run folder, a ``.keras`` checkpoint in one, or an artifact written by
    ``dltrain export`` (``.tflite``, ``.onnx``, SavedModel folder; ``checkpoint`` unused).

    The first column, ``row``, numbers the input rows from 1 (images: their index from 0 is
    ``row - 1``).

    Raises:
        CheckpointError: unreadable run or checkpoint.
        DataError: the input cannot be read or lacks feature columns.
    """
    from dltrain.export.runtime import artifact_format

    if artifact_format(target) is not None:
        from dltrain.export.predict import predict_artifact

        spec, outputs = predict_artifact(target, input_path)
    else:
        spec, outputs = _predict_run(target, input_path, checkpoint)
    count = len(outputs[0]) if outputs else 0
    columns = {"row": list(range(1, count + 1))}
    columns.update(prediction_columns(spec.targets, outputs))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return buffer.getvalue()


def _predict_run(
    target: Path, input_path: Path, checkpoint: str
) -> tuple[DataSpec, list[np.ndarray]]:
    from dltrain.export.source import read_spec

    saved = open_saved_run(target, checkpoint)
    spec = read_spec(saved.run.path)
    quiet_tensorflow()
    from dltrain.data import load_prediction_inputs
    from dltrain.model import load_model_file

    inputs = load_prediction_inputs(saved.loaded.config, spec, input_path)
    model = load_model_file(saved.checkpoint)
    predictions = model.predict(inputs.dataset, verbose=0)
    outputs = list(predictions) if isinstance(predictions, list | tuple) else [predictions]
    return spec, outputs
