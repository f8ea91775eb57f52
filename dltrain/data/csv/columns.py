"""Which CSV column plays which role, and turning raw cells into numbers, categories and labels.

Everything here works on plain Python/NumPy chunks so that the in-memory and the streaming
readers share one set of rules and one set of error messages. No TensorFlow here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import numpy as np

from dltrain.config.schema import CsvData, TextColumn
from dltrain.data.csv.reader import Chunk, is_comma_number, is_missing
from dltrain.data.spec import TaskName
from dltrain.errors import DataError
from dltrain.utils.keys import did_you_mean

__all__ = [
    "ColumnPlan",
    "TextInNumbers",
    "canonical_label",
    "input_name",
    "parse_floats",
    "plan_columns",
    "sort_classes",
]

DEFAULT_GROUP = "features"


def input_name(column: str) -> str:
    """A Keras-safe input name for a column (letters, digits, ``_.-`` kept; others -> ``_``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", column) or "_"


@dataclass(frozen=True)
class ColumnPlan:
    """The role of every used column, checked against the file's header."""

    columns: tuple[str, ...]
    targets: tuple[str, ...]
    tasks: dict[str, TaskName]
    groups: dict[str, tuple[str, ...]]
    categorical: frozenset[str]
    text: Mapping[str, TextColumn] = dataclass_field(default_factory=dict)
    """Text feature columns and how each is vectorized."""
    exclude: Mapping[str, frozenset[str]] = dataclass_field(default_factory=dict)
    """Rows whose column holds one of these values are left out."""
    scaling: Mapping[str, str] = dataclass_field(default_factory=dict)
    """Regression targets the model learns scaled (``standard`` or ``log``), by name."""

    @property
    def features(self) -> list[str]:
        """Every feature column once, in group order."""
        return list(dict.fromkeys(c for cols in self.groups.values() for c in cols))

    @property
    def numeric(self) -> list[str]:
        """Numeric feature columns, in order."""
        return [c for c in self.features if c not in self.categorical and c not in self.text]

    @property
    def sequences(self) -> list[str]:
        """Text columns that are their own model input (``output_mode: int``), in order."""
        return [c for c in self.features if c in self.text and self.text[c].output_mode == "int"]

    def joins_group(self, column: str) -> bool:
        """Whether a feature column is part of its group's model input (not a sequence)."""
        return column not in self.text or self.text[column].output_mode != "int"

    def index(self, column: str) -> int:
        """0-based field index of a column."""
        return self.columns.index(column)


def _check_names(
    names: Sequence[str],
    columns: Sequence[str],
    key: tuple[str, ...],
    listed: bool,
    scope: str,
) -> None:
    """Each of ``names`` (written at ``key``, item by item when ``listed``) is in ``columns``.

    ``scope`` says what ``columns`` are: ``"in FILE"``, ``"among the features"``...
    """
    for index, name in enumerate(names):
        if name not in columns:
            raise DataError(
                f"no column {name!r}{did_you_mean(name, columns)} {scope}: {', '.join(columns)}",
                key=(*key, index) if listed else key,
            )


def plan_columns(
    data: CsvData,
    columns: tuple[str, ...],
    path: Path,
    inferred: frozenset[str] = frozenset(),
) -> ColumnPlan:
    """Targets, tasks, feature groups and categorical columns, validated against ``columns``.

    ``inferred``: the categorical columns when ``data.categorical`` is ``auto``.

    Raises:
        DataError: a named column that the file lacks (with "did you mean"), a target also
            used as a feature, a task for an unknown target, or no feature left.
    """
    targets = (data.target,) if isinstance(data.target, str) else tuple(data.target)
    in_file = f"in {path}, which has"
    _check_names(targets, columns, ("data", "target"), not isinstance(data.target, str), in_file)
    if isinstance(data.task, str):
        tasks: dict[str, TaskName] = {t: data.task for t in targets}
    else:
        for name in data.task:
            _check_names([name], targets, ("data", "task", name), False, "among the targets")
        absent = [t for t in targets if t not in data.task]
        if absent:
            raise DataError(
                f"no task given for target(s) {', '.join(absent)}", key=("data", "task")
            )
        tasks = {t: data.task[t] for t in targets}
    if data.features is not None:
        _check_names(data.features, columns, ("data", "features"), True, in_file)
        features = list(data.features)
    elif data.feature_groups:
        features = [c for cols in data.feature_groups.values() for c in cols]
    else:
        # The group column names which rows belong together, it is not something to learn.
        features = [c for c in columns if c not in targets and c != data.group]
    if data.group is not None:
        _check_names([data.group], columns, ("data", "group"), False, in_file)
    both = [c for c in features if c in targets]
    if both:
        raise DataError(
            f"{both[0]!r} is a target and cannot also be a feature", key=("data", "features")
        )
    if data.feature_groups:
        groups = {}
        for group, cols in data.feature_groups.items():
            _check_names(
                cols, features, ("data", "feature_groups", group), True, "among the features"
            )
            groups[group] = tuple(cols)
    else:
        groups = {DEFAULT_GROUP: tuple(features)}
    if not any(groups.values()):
        raise DataError(f"{path}: no feature columns left besides the target(s)")
    text = _text_columns(data, features)
    if data.categorical == "auto":
        categorical = inferred - set(text)
    else:
        key = ("data", "categorical")
        _check_names(data.categorical, features, key, True, "among the features")
        categorical = frozenset(data.categorical)
        both = [c for c in data.categorical if c in text]
        if both:
            raise DataError(
                f"column {both[0]!r} is listed as text and as categorical; a column is one "
                "or the other",
                key=("data", "categorical", data.categorical.index(both[0])),
            )
    exclude = {}
    for column, values in (data.exclude or {}).items():
        _check_names([column], columns, ("data", "exclude", column), False, in_file)
        exclude[column] = frozenset(v.strip() for v in values)
    scaling = _target_scaling(data, targets, tasks)
    plan = ColumnPlan(columns, targets, tasks, groups, categorical, text, exclude, scaling)
    _check_input_names(plan)
    return plan


def _target_scaling(
    data: CsvData, targets: tuple[str, ...], tasks: Mapping[str, TaskName]
) -> dict[str, str]:
    """``data.target_scaling`` per regression target, ``none`` left out.

    Raises:
        DataError: a mapping key that is not a target, or names a classification target.
    """
    given = data.target_scaling
    if isinstance(given, str):
        return {t: given for t in targets if tasks[t] == "regression" and given != "none"}
    for name in given:
        key = ("data", "target_scaling", name)
        _check_names([name], targets, key, False, "among the targets")
        if tasks[name] != "regression":
            raise DataError(
                f"target {name!r} is a {tasks[name]} target; only regression targets are "
                "scaled (leave it out of data.target_scaling)",
                key=key,
            )
    return {t: m for t, m in given.items() if tasks[t] == "regression" and m != "none"}


def _text_columns(data: CsvData, features: list[str]) -> dict[str, TextColumn]:
    text = data.text_columns()
    listed = isinstance(data.text, list)
    for index, column in enumerate(text):
        key: tuple[str | int, ...] = ("data", "text", index) if listed else ("data", "text", column)
        if column not in features:
            raise DataError(
                f"no feature column {column!r}{did_you_mean(column, features)}; text columns "
                f"must be features: {', '.join(features)}",
                key=key,
            )
    return text


def _check_input_names(plan: ColumnPlan) -> None:
    taken: dict[str, str] = {}
    for group, cols in plan.groups.items():
        if any(c in plan.numeric for c in cols):
            taken[input_name(group)] = f"feature group {group!r}"
    for col in plan.features:
        if col in plan.categorical or col in plan.text:
            kind = "text" if col in plan.text else "categorical"
            name = input_name(col)
            if taken.get(name, f"column {col!r}") != f"column {col!r}":
                raise DataError(
                    f"{kind} column {col!r} and {taken[name]} would both be the model "
                    f"input {name!r}; rename the group or the column"
                )
            taken[name] = f"column {col!r}"


class TextInNumbers(DataError):
    """Text in a column parsed as numbers; ``comma``: it looks like a decimal-comma number."""

    def __init__(self, message: str, column: str, comma: bool) -> None:
        super().__init__(message)
        self.column = column
        self.comma = comma


def _where(path: Path, chunk: Chunk, row: int, field: int) -> str:
    return f"{path}:{chunk.lines[row]}:{field + 1}"


def parse_floats(chunk: Chunk, field: int, column: str, path: Path, hint: str) -> np.ndarray:
    """Column ``field`` of ``chunk`` as float64, NaN where missing.

    Raises:
        DataError: ``file:row:col`` of the first cell that is not a number, plus ``hint``.
    """
    cells = [row[field] for row in chunk.rows]
    if chunk.decimal == ",":
        cells = [cell.replace(",", ".") for cell in cells]
    try:
        # Fast path: NumPy converts the whole column in C; any empty or text cell makes it
        # fail, and the loop below then finds and names that cell.
        out = np.array(cells, dtype=np.float64)
    except ValueError:
        out = _parse_floats_slowly(chunk, cells, field, column, path, hint)
    bad = np.flatnonzero(np.isinf(out))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{_where(path, chunk, i, field)}: column {column!r} holds "
            f"{chunk.rows[i][field].strip()!r}; only finite numbers are allowed"
        )
    return out


def _parse_floats_slowly(
    chunk: Chunk, cells: list[str], field: int, column: str, path: Path, hint: str
) -> np.ndarray:
    out = np.empty(len(cells), dtype=np.float64)
    for i, value in enumerate(cells):
        try:
            out[i] = float(value)
        except ValueError:
            if not is_missing(value):
                written = chunk.rows[i][field].strip()
                comma = chunk.decimal == "." and is_comma_number(written)
                if comma:
                    hint = "it looks like a number with a decimal comma: set data.decimal to ','"
                raise TextInNumbers(
                    f"{_where(path, chunk, i, field)}: column {column!r} holds text "
                    f"{written!r} where numbers are expected; {hint}",
                    column,
                    comma,
                ) from None
            out[i] = np.nan
    return out


def parse_strings(chunk: Chunk, field: int) -> np.ndarray:
    """Column ``field`` as stripped strings, ``""`` where missing."""
    return np.array(
        ["" if is_missing(row[field]) else row[field].strip() for row in chunk.rows],
        dtype=object,
    )


def parse_text(chunk: Chunk, field: int) -> np.ndarray:
    """Column ``field`` as free text: stripped, every cell kept (``NA`` is text, ``""`` empty)."""
    return np.array([row[field].strip() for row in chunk.rows], dtype=object)


def canonical_label(value: str) -> str:
    """One spelling per class: ``1``, ``1.0`` and `` 1 `` are all class ``1``."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer():
        return str(int(number))
    return repr(number)


def sort_classes(labels: set[str]) -> tuple[str, ...]:
    """Class names in order: numerically when all are numbers, else alphabetically."""
    try:
        return tuple(sorted(labels, key=float))
    except ValueError:
        return tuple(sorted(labels))


def first_missing(
    chunk: Chunk, fields: dict[str, int], text: frozenset[str] = frozenset()
) -> tuple[int, int, str] | None:
    """(row in chunk, field, column) of the first missing cell among ``fields``, by row.

    A cell of a ``text`` column is missing only when empty (``NA`` is text there).
    """
    for i, row in enumerate(chunk.rows):
        for column, field in fields.items():
            cell = row[field]
            if (not cell.strip()) if column in text else is_missing(cell):
                return i, field, column
    return None


def missing_error(path: Path, chunk: Chunk, row: int, field: int, column: str) -> DataError:
    """The error for an empty cell when ``data.missing`` is ``error``."""
    cell = chunk.rows[row][field].strip()
    # ``None``, ``NA``, ``?``... count as missing: say which one the cell holds.
    what = "is empty" if not cell else f"holds {cell!r}, which counts as missing"
    return DataError(
        f"{_where(path, chunk, row, field)}: column {column!r} {what}; fill the cell, or "
        "set data.missing to drop (skip such rows) or mean (fill with the training mean / "
        "most frequent value)"
    )


def check_classes(target: str, task: TaskName, classes: set[str], path: Path) -> tuple[str, ...]:
    """Sorted class names of a classification target, checked against its task.

    Raises:
        DataError: fewer than two classes, or a binary target without exactly two.
    """
    names = sort_classes(classes)
    if len(names) < 2:
        only = f" {names[0]!r}" if names else ""
        raise DataError(
            f"{path}: target {target!r} has a single class{only}; a classifier needs at least two"
        )
    if task == "binary" and len(names) != 2:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise DataError(
            f"{path}: target {target!r} is binary but has {len(names)} classes ({shown}); "
            "set data.task to multiclass"
        )
    return names
