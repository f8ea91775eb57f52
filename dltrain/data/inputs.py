"""Inputs for ``dltrain predict``: a CSV of raw feature rows, an MNIST-format file, or image /
sound files (one file, a folder of them, or an index CSV)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.config.schema import CsvData, ExperimentConfig, FolderData, MnistData
from dltrain.data.csv.arrow import FastPathFailed, fast_columns
from dltrain.data.csv.columns import parse_floats, parse_strings, parse_text
from dltrain.data.csv.reader import CsvFormat, detect_format, read_all
from dltrain.data.memory import aligned_empty
from dltrain.data.mnist import image_source, load_image_file
from dltrain.data.pipeline import array_batches, plain_function
from dltrain.data.spec import DataSpec
from dltrain.errors import DataError
from dltrain.utils.keys import did_you_mean

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["PredictionInputs", "load_prediction_inputs"]

_DEFAULT_BATCH = 256
_SHOWN = 10


@dataclass
class PredictionInputs:
    """Model inputs for prediction, one example per kept input row / image."""

    dataset: tf.data.Dataset
    """Batches of ``x`` only, structured like the training ``x``."""
    count: int
    """Number of examples."""
    header: list[str] | None = None
    """CSV: the input file's column names (``None`` for images)."""
    numbers: list[int] = field(default_factory=list)
    """Per example: CSV, its row number as error messages give it (the file's line, the
    header being row 1); images, its position from 1."""
    notes: list[str] = field(default_factory=list)
    """What the caller should tell the user: rows left out, which split of a data set."""
    paths: list[str] | None = None
    """Image and audio files: each example's file, in order (``None`` otherwise)."""


def load_prediction_inputs(
    config: ExperimentConfig, spec: DataSpec, path: Path
) -> PredictionInputs:
    """Read ``path`` into batches the trained model accepts.

    Empty cells are handled as ``data.missing`` handled them in training: ``mean`` fills them
    with the training fill values saved in ``spec``, ``drop`` leaves that row out (with a
    note naming it), ``error`` refuses the file at the first one.

    Args:
        config: The run's config (CSV layout options, missing values, image scaling, batch).
        spec: The run's data spec (raw input names, for CSV their columns and fill values).
        path: A CSV with the raw feature columns (target columns may be present and are
            ignored), or a ``.npz`` with ``x_test`` or ``x_train``, or a folder of IDX files,
            or one IDX images file.

    Raises:
        DataError: unreadable file, a missing feature column, text in a numeric column, an
            empty cell (located as ``file:row:column``) the training would have refused too,
            or no row left to predict.
    """
    batch = config.training.batch_size
    batch_size = batch if isinstance(batch, int) else _DEFAULT_BATCH
    data = config.data
    if isinstance(data, MnistData):
        return _images(data, path, batch_size)
    if isinstance(data, FolderData):
        return _files(data, path, batch_size)
    return _csv(data, spec, path, batch_size)


def _files(data: FolderData, path: Path, batch: int) -> PredictionInputs:
    """One image or recording, every such file below a folder, or those an index CSV names."""
    import tensorflow as tf

    from dltrain.data.folders.decoded import bad_files_message
    from dltrain.data.folders.listing import listed_files
    from dltrain.data.folders.load import folder_kind

    kind = folder_kind(data)
    files = listed_files(path, kind.extensions, kind.what)
    decoded = kind.decode(files)
    notes = []
    if decoded.bad:
        if data.bad_files == "error":
            raise DataError(bad_files_message(decoded.bad, kind.what))
        count = len(decoded.bad)
        notes.append(
            f"{count} unreadable {kind.what} file{'s' if count > 1 else ''} not predicted "
            f"(data.bad_files: skip): "
            + ", ".join(str(p) for p, _ in decoded.bad[:_SHOWN])
            + (f" and {count - _SHOWN} more" if count > _SHOWN else "")
        )
    if not len(decoded.kept):
        raise DataError(f"{path}: no readable {kind.what} file to predict")
    ds = tf.data.Dataset.from_tensor_slices(decoded.array).batch(batch)
    kept = [int(i) for i in decoded.kept]
    return PredictionInputs(
        ds.prefetch(tf.data.AUTOTUNE),
        len(kept),
        numbers=[i + 1 for i in kept],
        notes=notes,
        paths=[str(files[i]) for i in kept],
    )


def _images(data: MnistData, path: Path, batch: int) -> PredictionInputs:
    import tensorflow as tf

    images, _ = load_image_file(path, labels=False)
    if data.channel_axis:
        images = images[..., np.newaxis]
    scale = 1.0 / 255.0 if data.scale else 1.0
    ds = tf.data.Dataset.from_tensor_slices(images).batch(batch)
    ds = ds.map(
        plain_function(lambda x: tf.cast(x, tf.float32) * scale),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    notes = [f"{path}: {image_source(path)}, {len(images)} images"]
    return PredictionInputs(
        ds.prefetch(tf.data.AUTOTUNE),
        len(images),
        numbers=list(range(1, len(images) + 1)),
        notes=notes,
    )


def _csv(data: Any, spec: DataSpec, path: Path, batch: int) -> PredictionInputs:
    # Plugin dataset kinds predict from a CSV of their named columns, its layout detected.
    csv_data = data if isinstance(data, CsvData) else None
    fmt = detect_format(
        path,
        csv_data.delimiter if csv_data else None,
        csv_data.header if csv_data else None,
        csv_data.decimal if csv_data else None,
    )
    columns = list(fmt.columns)
    needed = [c for info in spec.raw_inputs for c in info.columns]
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
                    f"{', '.join(needed)}"
                )
    # Plugin dataset kinds have no `missing` option: an empty cell is an error there.
    missing = data.missing if isinstance(data, CsvData) else "error"
    cells = _fast_cells(path, fmt, spec) or _careful_cells(path, fmt)
    filler = _Filler(missing, spec.fill, path, cells.lines, columns)
    # Numeric inputs: their filled float64 columns; each becomes one float32 matrix below.
    numeric: dict[str, list[np.ndarray]] = {}
    strings: dict[str, np.ndarray] = {}
    for info in spec.raw_inputs:
        if info.dtype == "string" and info.columns[0] in spec.text:
            # Free text as written: ``NA`` is text, an empty cell the empty string unless the
            # column was trained with ``empty: missing``.
            name = info.columns[0]
            text = cells.text(name)
            if spec.text[name].get("empty") == "missing":
                text = filler.strings(name, text)
            strings[info.name] = text.astype(str).reshape((-1, *info.shape))
            continue
        if info.dtype == "string":
            name = info.columns[0]
            values = filler.strings(name, cells.strings(name))
            strings[info.name] = values.astype(str).reshape(-1, 1)
            continue
        numeric[info.name] = [filler.floats(name, cells.floats(name)) for name in info.columns]
    keep = filler.keep
    if not keep.any():
        raise DataError(
            f"{path}: every row has an empty cell in a feature column "
            f"({', '.join(needed)}); the model was trained with data.missing: drop, so none "
            "can be predicted"
        )
    index = np.flatnonzero(keep)
    every = len(index) == len(keep)
    x: dict[str, np.ndarray] = {}
    for info in spec.raw_inputs:
        if info.name in numeric:
            x[info.name] = _matrix(numeric[info.name], None if every else keep)
        else:
            x[info.name] = strings[info.name] if every else strings[info.name][keep]
    structure: Any = next(iter(x.values())) if len(x) == 1 else x
    return PredictionInputs(
        array_batches(structure, len(index), batch),
        len(index),
        columns if fmt.header else None,
        cells.lines[index].tolist(),
        filler.notes(),
    )


def _matrix(parts: list[np.ndarray], keep: np.ndarray | None) -> np.ndarray:
    """float32 (rows, columns) of float64 columns, rows where ``keep`` (all: ``None``),
    written once into an aligned buffer that TensorFlow then shares."""
    rows = len(parts[0]) if keep is None else int(keep.sum())
    out = aligned_empty((rows, len(parts)), np.float32)
    for j, values in enumerate(parts):
        out[:, j] = values if keep is None else values[keep]
    return out


@dataclass
class _Cells:
    """The parsed cells of a prediction CSV, read by either reader, and each row's line."""

    lines: np.ndarray
    floats: Callable[[str], np.ndarray]
    """Column -> float64, NaN where missing."""
    strings: Callable[[str], np.ndarray]
    """Column -> cleaned category strings, ``""`` where missing."""
    text: Callable[[str], np.ndarray]
    """Column -> stripped text, every cell kept."""


def _fast_cells(path: Path, fmt: CsvFormat, spec: DataSpec) -> _Cells | None:
    """The cells through pyarrow, as training reads them; ``None`` where the fast path cannot
    vouch for the file (the careful reader then reads it, and names any bad cell)."""
    kinds: dict[str, str] = {}
    for info in spec.raw_inputs:
        if info.dtype != "string":
            kinds.update(dict.fromkeys(info.columns, "numeric"))
        else:
            kinds[info.columns[0]] = "text" if info.columns[0] in spec.text else "category"
    try:
        parsed = fast_columns(path, fmt, kinds)
    except FastPathFailed:
        return None
    if parsed is None or parsed.lines is None:
        return None
    return _Cells(
        parsed.lines,
        parsed.numeric.__getitem__,
        parsed.categorical.__getitem__,
        parsed.text.__getitem__,
    )


def _careful_cells(path: Path, fmt: CsvFormat) -> _Cells:
    """The cells through the row-by-row reader: each column parsed when asked for, so the
    first bad cell in column order is the one named (``file:row:column``)."""
    table = read_all(path, fmt)
    columns = list(fmt.columns)

    def floats(name: str) -> np.ndarray:
        field = columns.index(name)
        return parse_floats(table, field, name, path, "only numbers are allowed there")

    return _Cells(
        np.asarray(table.lines),
        floats,
        lambda name: parse_strings(table, columns.index(name)),
        lambda name: parse_text(table, columns.index(name)),
    )


class _Filler:
    """Empty cells of one prediction CSV, handled as ``data.missing`` was in training."""

    def __init__(
        self,
        missing: str,
        fill: dict[str, float | str],
        path: Path,
        lines: np.ndarray,
        columns: list[str],
    ) -> None:
        self.missing, self.fill, self.path, self.lines = missing, fill, path, lines
        self.columns = columns
        self.keep = np.ones(len(lines), dtype=bool)
        self.dropped: dict[int, str] = {}
        """Row index -> the first empty column that drops it."""

    def floats(self, column: str, values: np.ndarray) -> np.ndarray:
        """``values`` with empty cells filled (``mean``), or their rows marked dropped."""
        empty = np.isnan(values)
        if empty.any():
            self._empty(column, empty)
            if self.missing == "mean":
                return np.where(empty, float(self.fill[column]), values)
        return values

    def strings(self, column: str, values: np.ndarray) -> np.ndarray:
        """Category strings with empty cells filled (``mean``) or their rows dropped."""
        empty = np.asarray(values == "", dtype=bool)
        if empty.any():
            self._empty(column, empty)
            if self.missing == "mean":
                return np.where(empty, str(self.fill[column]), values)
        return values

    def _empty(self, column: str, empty: np.ndarray) -> None:
        first = int(np.flatnonzero(empty)[0])
        where = f"{self.path}:{self.lines[first]}:{self.columns.index(column) + 1}"
        if self.missing == "mean" and column not in self.fill:
            raise DataError(
                f"{where}: column {column!r} is empty, and this run saved no fill value for "
                "it (trained by an older dltrain); fill the cell or retrain"
            )
        if self.missing == "error":
            raise DataError(
                f"{where}: column {column!r} is empty; the model was trained with "
                "data.missing: error, so every feature needs a value to predict"
            )
        if self.missing == "drop":
            for i in np.flatnonzero(empty & self.keep).tolist():
                self.dropped[i] = column
            self.keep &= ~empty

    def notes(self) -> list[str]:
        """One note on the rows left out (``drop``), naming up to ten of them."""
        if not self.dropped:
            return []
        shown = [
            f"{self.lines[i]} ({column})" for i, column in sorted(self.dropped.items())[:_SHOWN]
        ]
        more = f" and {len(self.dropped) - _SHOWN} more" if len(self.dropped) > _SHOWN else ""
        count = len(self.dropped)
        return [
            f"{self.path}: {count} row{'s' if count > 1 else ''} not predicted: an empty "
            f"feature cell, and the model was trained with data.missing: drop; row (column): "
            f"{', '.join(shown)}{more}"
        ]
