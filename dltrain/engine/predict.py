"""``predict_file``: predictions of a saved model for a CSV or MNIST-format file, as CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.inputs import PredictionInputs
from dltrain.data.spec import DataSpec, TargetInfo
from dltrain.errors import CheckpointError, UsageError
from dltrain.report.saved_run import SavedRun, open_saved_run
from dltrain.storage import MANIFEST
from dltrain.storage.manifest import RunManifest, read_manifest

__all__ = ["Predictions", "predict_file", "prediction_columns", "resolve_thresholds"]


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
    targets: list[TargetInfo],
    outputs: list[np.ndarray],
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, list[Any]]:
    """Output columns per target: the prediction, and for classification label + probabilities.

    Regression: ``predicted_<target>``. Binary: ``predicted_<target>`` (class label: the
    second class when its probability is above the target's entry in ``thresholds``, else
    above 0.5) and ``<target>_probability`` (of the second class). Multi-class:
    ``predicted_<target>`` and ``<target>_p_<class>`` per class. No column carries a target's
    own name, so an input that still holds the target column cannot be confused with the
    prediction.
    """
    cuts = thresholds or {}
    columns: dict[str, list[Any]] = {}
    for target, raw in zip(targets, outputs, strict=True):
        pred = np.asarray(raw, dtype=np.float64)
        name = target.name
        predicted = f"predicted_{name}"
        if target.task == "regression":
            columns[predicted] = [f"{v:.6g}" for v in pred.reshape(len(pred), -1)[:, 0]]
        elif target.task == "binary":
            prob = pred.reshape(len(pred), -1)[:, 0]
            cut = cuts.get(name, 0.5)
            columns[predicted] = [_label(target, int(p > cut)) for p in prob]
            columns[f"{name}_probability"] = [f"{p:.6f}" for p in prob]
        else:
            probs = pred.reshape(len(pred), -1)
            columns[predicted] = [_label(target, int(i)) for i in probs.argmax(axis=1)]
            for k in range(probs.shape[1]):
                columns[f"{name}_p_{_label(target, k)}"] = [f"{p:.6f}" for p in probs[:, k]]
    return columns


def predict_file(
    target: Path,
    input_path: Path,
    *,
    checkpoint: str = "best",
    trust_imports: bool = False,
    threshold: str | None = None,
) -> Predictions:
    """Predict every row (or image) of ``input_path``; returns the output CSV text and notes.

    ``target`` is a run folder, a ``.keras`` checkpoint in one, or an artifact written by
    ``dltrain export`` (``.tflite``, ``.onnx``, SavedModel folder; ``checkpoint`` unused).

    The first column, ``row``, is a CSV row's number as error messages give it (the file's
    line: the header is row 1, the first data row is row 2); for images it counts from 1
    (the array index is ``row - 1``). Rows left out (``missing: drop``) keep their numbers.
    ``trust_imports``: the run's plugins may be imported from where it recorded them
    (``--trust-imports``). ``threshold``: binary targets' decision threshold (see
    :func:`resolve_thresholds`; None keeps 0.5).

    Raises:
        CheckpointError: unreadable run, checkpoint or artifact.
        DataError: the input cannot be read or lacks feature columns.
        UsageError: a plugin that needs ``trust_imports`` or is not the code recorded; a
            ``threshold`` that is not a probability or ``auto``, or that has no binary target
            (or, for ``auto``, no recorded threshold) to apply to.
    """
    from dltrain.export.formats import artifact_format, missing_marker

    notes: list[str] = []
    if threshold is not None:
        _parse_threshold(threshold)  # a typo fails before the model loads
    broken = missing_marker(target)
    if broken is not None:
        raise CheckpointError(
            f"{target}: not a {broken.title}: no {broken.marker} in it (an incomplete copy?); "
            "export the run again with dltrain export"
        )
    if artifact_format(target) is not None:
        from dltrain.export.inference import predict_artifact

        manifest = _manifest_above(target) if threshold == "auto" else None
        spec, outputs, inputs = predict_artifact(target, input_path)
    else:
        saved = open_saved_run(target, checkpoint, trust_imports=trust_imports)
        notes += [saved.note] if saved.note else []
        manifest = saved.run.manifest
        spec, outputs, inputs = _predict_run(saved, input_path)
    cuts = resolve_thresholds(threshold, spec.targets, manifest, target)
    notes += [
        f"predicted_{name}: positive above {cut:.6g} ({why})" for name, (cut, why) in cuts.items()
    ]
    columns: dict[str, list[Any]] = {"row": list(inputs.numbers)}
    if inputs.paths is not None:
        columns["path"] = list(inputs.paths)
    thresholds = {name: cut for name, (cut, _) in cuts.items()}
    columns.update(prediction_columns(spec.targets, outputs, thresholds))
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
    from dltrain.report.evaluation import output_probabilities

    spec = read_spec(saved.run.path)
    inputs = load_prediction_inputs(saved.loaded.config, spec, input_path)
    model = load_model_file(saved.checkpoint)
    predictions = model.predict(inputs.dataset, verbose=0)
    return spec, output_probabilities(model, predictions), inputs


def resolve_thresholds(
    threshold: str | None,
    targets: list[TargetInfo],
    manifest: RunManifest | None,
    where: Path,
) -> dict[str, tuple[float, str]]:
    """Each binary target's decision threshold for ``predict --threshold``, with where it
    came from: ``auto`` takes the one the run chose on validation (``run.json``'s
    ``evaluation.<target>.threshold``), a number in [0, 1] applies to every binary target,
    None leaves the default (0.5: an empty result).

    Raises:
        UsageError: ``threshold`` is neither; the model has no binary target; ``auto`` for a
            target the run recorded no threshold for (or no run folder to read it from).
    """
    if threshold is None:
        return {}
    binary = [t.name for t in targets if t.task == "binary"]
    if not binary:
        tasks = ", ".join(f"{t.name} ({t.task})" for t in targets)
        raise UsageError(
            f"--threshold applies to binary targets; {where} predicts {tasks}. "
            f"Received: --threshold {threshold}"
        )
    value = _parse_threshold(threshold)
    if value is None:
        chosen: dict[str, tuple[float, str]] = {}
        for name in binary:
            record = manifest.evaluation.get(name) if manifest is not None else None
            if record is None or record.threshold is None:
                raise UsageError(
                    f"{where}: no decision threshold recorded for target {name!r} (runs "
                    "choose one on the validation split when they end with output.plots on "
                    "and a validation split); give --threshold a number between 0 and 1"
                )
            cut = record.threshold
            chosen[name] = (cut.value, f"{cut.rule} on the {cut.split} split")
        return chosen
    return {name: (value, "--threshold") for name in binary}


def _parse_threshold(threshold: str) -> float | None:
    """A probability, or None for ``auto``.

    Raises:
        UsageError: neither.
    """
    if threshold.strip().lower() == "auto":
        return None
    try:
        value = float(threshold)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise UsageError(
            "--threshold must be auto (the run's threshold chosen on validation) or a "
            f"probability between 0 and 1. Received: --threshold {threshold}"
        )
    return value


def _manifest_above(artifact: Path) -> RunManifest | None:
    """The manifest of the run folder an exported artifact sits in (``RUN/export/...``)."""
    for folder in list(artifact.resolve().parents)[:4]:
        if (folder / MANIFEST).is_file():
            try:
                return read_manifest(folder / MANIFEST)
            except CheckpointError:
                return None
    return None
