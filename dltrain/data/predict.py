"""Inputs for ``dltrain predict``: a CSV of raw feature rows, or an MNIST-format file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.config.schema import CsvData, ExperimentConfig, MnistData
from dltrain.data.columns import parse_floats, parse_strings
from dltrain.data.csv_reader import detect_format, read_all
from dltrain.data.mnist import load_image_file
from dltrain.data.spec import DataSpec
from dltrain.errors import DataError
from dltrain.keys import did_you_mean

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["PredictionInputs", "load_prediction_inputs"]

_DEFAULT_BATCH = 256


@dataclass
class PredictionInputs:
    """Model inputs for prediction, one example per input row / image."""

    dataset: tf.data.Dataset
    """Batches of ``x`` only, structured like the training ``x``."""
    count: int
    """Number of examples."""
    header: list[str] | None = None
    """CSV: the input file's column names (``None`` for images)."""
    rows: list[list[str]] | None = None
    """CSV: the raw input rows, in order, so output can be written one row per input row."""


def load_prediction_inputs(
    config: ExperimentConfig, spec: DataSpec, path: Path
) -> PredictionInputs:
    """Read ``path`` into batches the trained model accepts.

    Args:
        config: The run's config (CSV layout options, image scaling, batch size).
        spec: The run's data spec (raw input names, and for CSV their columns).
        path: A CSV with the raw feature columns (target columns may be present and are
            ignored), or a ``.npz`` with ``x_test`` or ``x_train``, or one IDX images file.

    Raises:
        DataError: unreadable file, a missing feature column, text in a numeric column, or an
            empty numeric cell (located as ``file:row:column``).
    """
    batch = config.training.batch_size
    batch_size = batch if isinstance(batch, int) else _DEFAULT_BATCH
    data = config.data
    if isinstance(data, MnistData):
        return _images(data, path, batch_size)
    return _csv(data, spec, path, batch_size)


def _images(data: MnistData, path: Path, batch: int) -> PredictionInputs:
    import tensorflow as tf

    images, _ = load_image_file(path, labels=False)
    if data.channel_axis:
        images = images[..., np.newaxis]
    scale = 1.0 / 255.0 if data.scale else 1.0
    ds = tf.data.Dataset.from_tensor_slices(images).batch(batch)
    ds = ds.map(lambda x: tf.cast(x, tf.float32) * scale, num_parallel_calls=tf.data.AUTOTUNE)
    return PredictionInputs(ds.prefetch(tf.data.AUTOTUNE), len(images))


def _csv(data: Any, spec: DataSpec, path: Path, batch: int) -> PredictionInputs:
    import tensorflow as tf

    # Plugin dataset kinds predict from a CSV of their named columns, its layout detected.
    csv_data = data if isinstance(data, CsvData) else None
    fmt = detect_format(
        path,
        csv_data.delimiter if csv_data else None,
        csv_data.header if csv_data else None,
        csv_data.decimal if csv_data else None,
    )
    table = read_all(path, fmt)
    columns = list(fmt.columns)
    x: dict[str, Any] = {}
    for info in spec.raw_inputs:
        if not info.columns:
            raise DataError(
                f"the run's data spec does not name the CSV columns of input {info.name!r}; "
                "retrain with this version of dltrain"
            )
        for name in info.columns:
            if name not in columns:
                raise DataError(
                    f"{path}: no column {name!r}{did_you_mean(name, columns)}; the model needs "
                    f"{', '.join(c for i in spec.raw_inputs for c in i.columns)}"
                )
        if info.dtype == "string":
            x[info.name] = parse_strings(table, columns.index(info.columns[0])).astype(str)
            x[info.name] = x[info.name].reshape(-1, 1)
            continue
        parts = []
        for name in info.columns:
            values = parse_floats(
                table, columns.index(name), name, path, "only numbers are allowed there"
            )
            empty = np.flatnonzero(np.isnan(values))
            if empty.size:
                row = int(empty[0])
                raise DataError(
                    f"{path}:{table.lines[row]}:{columns.index(name) + 1}: column {name!r} is "
                    "empty; every numeric feature needs a value to predict"
                )
            parts.append(values)
        x[info.name] = np.stack(parts, axis=1).astype(np.float32)
    structure = next(iter(x.values())) if len(x) == 1 else x
    ds = tf.data.Dataset.from_tensor_slices(structure).batch(batch)
    return PredictionInputs(
        ds.prefetch(tf.data.AUTOTUNE),
        len(table.rows),
        columns if fmt.header else None,
        table.rows,
    )
