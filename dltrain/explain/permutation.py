"""Permutation importance of a table's raw columns: how much worse the model scores when one
column's values are shuffled among the rows of a split.

Works on what the saved model takes (raw numbers, category strings, review text), so it
needs nothing from the model but a score function: a Keras model's ``evaluate`` or an
exported artifact's predictions. NumPy only; no TensorFlow here.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from dltrain.data.spec import DataSpec

__all__ = [
    "Column",
    "ColumnImportance",
    "PermutationResult",
    "Score",
    "permutation_importance",
    "raw_columns",
]

Score = Callable[[dict[str, np.ndarray]], dict[str, float]]
"""Raw inputs by name -> metric values (``loss`` and the run's first metric)."""

Direction = Literal["min", "max"]


@dataclass(frozen=True)
class Column:
    """One raw CSV column: the model input holding it and its position on the last axis
    (``None``: the input is this column alone, e.g. a text or category column)."""

    name: str
    input: str
    index: int | None = None


@dataclass(frozen=True)
class ColumnImportance:
    """The metric drops of one column, one per repeat and metric (positive: the model got
    worse without the column's information)."""

    column: str
    drops: dict[str, list[float]]

    def mean(self, metric: str) -> float:
        """Mean drop of ``metric`` over the repeats."""
        return float(np.mean(self.drops[metric]))

    def std(self, metric: str) -> float:
        """Standard deviation of the drops (ddof 1; 0 for one repeat)."""
        values = self.drops[metric]
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


@dataclass
class PermutationResult:
    """Baseline scores and each column's drops, most important first (by the first metric)."""

    baseline: dict[str, float]
    directions: dict[str, Direction]
    repeats: int
    seed: int
    rows: list[ColumnImportance] = field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        """The metrics scored, in order (the loss first)."""
        return list(self.directions)


def raw_columns(spec: DataSpec) -> list[Column]:
    """Every raw CSV column the model takes, in the order of its inputs.

    A numeric input holds several columns (``features``: x1, x2); a category or text column
    is an input of its own.
    """
    columns: list[Column] = []
    for info in spec.raw_inputs:
        if len(info.columns) > 1:
            columns += [Column(name, info.name, i) for i, name in enumerate(info.columns)]
        elif len(info.columns) == 1:
            columns.append(Column(info.columns[0], info.name, None))
    return columns


def permutation_importance(
    x: Mapping[str, np.ndarray],
    score: Score,
    columns: list[Column],
    *,
    directions: Mapping[str, Direction],
    repeats: int = 5,
    seed: int = 0,
) -> PermutationResult:
    """Shuffle each column within the split ``repeats`` times and record the metric drops.

    The permutation of a column in repeat ``r`` is drawn from ``(seed, CRC-32 of the column's
    name, r)``, so a column's result does not depend on which other columns are explained. A
    drop is oriented by the metric's direction (``min``: permuted - baseline; ``max``:
    baseline - permuted), so a positive drop always means the column carried information the
    model used.

    Args:
        x: The split's raw inputs by name (the arrays are not modified).
        score: Metric values for a dict of raw inputs.
        columns: The columns to shuffle (:func:`raw_columns`).
        directions: ``min`` or ``max`` per metric that ``score`` returns, in report order.
        repeats: Shuffles per column.
        seed: Seed of the permutations.
    """
    base_inputs = dict(x)
    baseline = score(base_inputs)
    result = PermutationResult(
        baseline={m: float(baseline[m]) for m in directions},
        directions=dict(directions),
        repeats=repeats,
        seed=seed,
    )
    n = len(next(iter(x.values())))
    for column in columns:
        drops: dict[str, list[float]] = {m: [] for m in directions}
        for r in range(repeats):
            key = [seed, zlib.crc32(column.name.encode()), r]
            order = np.random.default_rng(key).permutation(n)
            shuffled = dict(base_inputs)
            shuffled[column.input] = _shuffled(x[column.input], column.index, order)
            values = score(shuffled)
            for metric, direction in directions.items():
                change = float(values[metric]) - result.baseline[metric]
                drops[metric].append(change if direction == "min" else -change)
        result.rows.append(ColumnImportance(column.name, drops))
    first = result.metrics[0]
    result.rows.sort(key=lambda row: row.mean(first), reverse=True)
    return result


def _shuffled(array: np.ndarray, index: int | None, order: np.ndarray) -> np.ndarray:
    if index is None:
        whole: np.ndarray = array[order]
        return whole
    out: np.ndarray = array.copy()
    out[..., index] = array[order][..., index]
    return out
