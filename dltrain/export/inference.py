"""Predictions of an exported artifact, from the same raw input files a run takes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dltrain.config import config_from_dict
from dltrain.config.schema import MnistData
from dltrain.data.inputs import PredictionInputs
from dltrain.data.spec import DataSpec
from dltrain.errors import CheckpointError, ConfigError
from dltrain.export.formats import FORMATS, artifact_format
from dltrain.export.options import require_packages
from dltrain.export.record import read_record
from dltrain.export.runtime import open_runtime

__all__ = ["predict_artifact"]


def predict_artifact(
    artifact: Path, input_path: Path
) -> tuple[DataSpec, list[np.ndarray], PredictionInputs]:
    """Run an exported model (``.tflite``, ``.onnx``, SavedModel folder) on ``input_path``.

    The input file is read as for the run it came from (config and data spec are in its
    ``export.json``), except that images stay raw pixels: the scaling is inside the artifact.

    Returns:
        The data spec (targets, for the output columns), the outputs (one array per target)
        and the inputs read (row numbers, notes).

    Raises:
        CheckpointError: not an artifact, its ``export.json`` is missing or unreadable, or
            its runtime cannot load it.
        ExportError: the runtime of its format is not installed.
        DataError: the input cannot be read or lacks feature columns.
    """
    fmt = artifact_format(artifact)
    if fmt is None:
        kinds = ", ".join(f.title for f in FORMATS.values())
        raise CheckpointError(f"{artifact}: not an exported model ({kinds})")
    record = read_record(artifact)
    try:
        loaded = config_from_dict(record["config"])
        spec = DataSpec.from_json(json.dumps(record["data_spec"]))
    except (ConfigError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{artifact}: its export record is invalid ({exc})") from exc
    config = loaded.config
    if isinstance(config.data, MnistData):
        # The artifact scales pixels itself; give it what a device would: values 0-255.
        config = config.model_copy(update={"data": config.data.model_copy(update={"scale": False})})
    from dltrain.data import load_prediction_inputs

    inputs = load_prediction_inputs(config, spec, input_path)
    require_packages(fmt)
    runtime = open_runtime(artifact, fmt)
    names = [i.name for i in spec.raw_inputs]
    parts: list[list[np.ndarray]] = []
    for batch in inputs.dataset.as_numpy_iterator():
        x = batch if isinstance(batch, dict) else {names[0]: batch}
        parts.append(runtime.predict({k: _runtime_array(v) for k, v in x.items()}))
    if not parts:
        return spec, [np.zeros((0, t.units), np.float32) for t in spec.targets], inputs
    return spec, [np.concatenate(column) for column in zip(*parts, strict=True)], inputs


def _runtime_array(values: np.ndarray) -> np.ndarray:
    """tf.data hands text out as bytes; the runtimes take it as Python strings."""
    if values.dtype == object:
        return np.char.decode(values.astype(bytes), "utf-8")
    return values
