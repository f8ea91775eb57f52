"""``predict_file``: predictions of a saved model for a CSV or MNIST-format file, as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.inputs import PredictionInputs
from dltrain.data.spec import DataSpec, TargetInfo
from dltrain.errors import CheckpointError
from dltrain.report.saved_run import SavedRun, open_saved_run

__all__ = ["Predictions", "predict_file", "prediction_columns"]


@dataclass
class Predictions:
    """The output CSV text, and notes for the user (rows left out, which split was read)."""

    text: str
    count: int
    notes: list[str] = field(default_factory=list)


def _label(target: TargetInfo, index: int) -> str:
    names = target.class_names
    return names[index] if names and 0 <= index < len(names) else str(index)


def prediction_columns(
    targets: list[TargetInfo], outputs: list[np.ndarray]
) -> dict[str, list[Any]]:
    """Output columns per target: the prediction, and for classification label + probabilities.

    Regression: ``predicted_<target>``. Binary: ``predicted_<target>`` (class label) and
    ``<target>_probability`` (of the second class). Multi-class: ``predicted_<target>`` and
    ``<target>_p_<class>`` per class. No column carries a target's own name, so an input
    that still holds the target column cannot be confused with the prediction.
    """
    columns: dict[str, list[Any]] = {}
    for target, raw in zip(targets, outputs, strict=True):
        pred = np.asarray(raw, dtype=np.float64)
        name = target.name
        predicted = f"predicted_{name}"
        if target.task == "regression":
            columns[predicted] = [f"{v:.6g}" for v in pred.reshape(len(pred), -1)[:, 0]]
        elif target.task == "binary":
            prob = pred.reshape(len(pred), -1)[:, 0]
            columns[predicted] = [_label(target, int(p > 0.5)) for p in prob]
            columns[f"{name}_probability"] = [f"{p:.6f}" for p in prob]
        else:
            probs = pred.reshape(len(pred), -1)
            columns[predicted] = [_label(target, int(i)) for i in probs.argmax(axis=1)]
            for k in range(probs.shape[1]):
                columns[f"{name}_p_{_label(target, k)}"] = [f"{p:.6f}" for p in probs[:, k]]
    return columns


def predict_file(
    target: Path, input_path: Path, *, checkpoint: str = "best", trust_imports: bool = False
) -> Predictions:
    """Predict every row (or image) of ``input_path``; returns the output CSV text and notes.

    ``target`` is a run folder, a ``.keras`` checkpoint in one, or an artifact written by
    ``dltrain export`` (``.tflite``, ``.onnx``, SavedModel folder; ``checkpoint`` unused).

    The first column, ``row``, is a CSV row's number as error messages give it (the file's
    line: the header is row 1, the first data row is row 2); for images it counts from 1
    (the array index is ``row - 1``). Rows left out (``missing: drop``) keep their numbers.
    ``trust_imports``: the run's plugins may be imported from where it recorded them
    (``--trust-imports``).

    Raises:
        CheckpointError: unreadable run, checkpoint or artifact.
        DataError: the input cannot be read or lacks feature columns.
        UsageError: a plugin that needs ``trust_imports`` or is not the code recorded.
    """
    from dltrain.export.formats import artifact_format, missing_marker

    notes: list[str] = []
    broken = missing_marker(target)
    if broken is not None:
        raise CheckpointError(
            f"{target}: not a {broken.title}: no {broken.marker} in it (an incomplete copy?); "
            "export the run again with dltrain export"
        )
    if artifact_format(target) is not None:
        from dltrain.export.inference import predict_artifact

        spec, outputs, inputs = predict_artifact(target, input_path)
    else:
        saved = open_saved_run(target, checkpoint, trust_imports=trust_imports)
        notes += [saved.note] if saved.note else []
        spec, outputs, inputs = _predict_run(saved, input_path)
    columns: dict[str, list[Any]] = {"row": list(inputs.numbers)}
    if inputs.paths is not None:
        columns["path"] = list(inputs.paths)
    columns.update(prediction_columns(spec.targets, outputs))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return Predictions(buffer.getvalue(), inputs.count, notes + inputs.notes)


def _predict_run(
    saved: SavedRun, input_path: Path
) -> tuple[DataSpec, list[np.ndarray], PredictionInputs]:
    from dltrain.data import load_prediction_inputs
    from dltrain.export.model_source import read_spec
    from dltrain.model import load_model_file

    spec = read_spec(saved.run.path)
    inputs = load_prediction_inputs(saved.loaded.config, spec, input_path)
    model = load_model_file(saved.checkpoint)
    predictions = model.predict(inputs.dataset, verbose=0)
    outputs = list(predictions) if isinstance(predictions, list | tuple) else [predictions]
    return spec, outputs, inputs
