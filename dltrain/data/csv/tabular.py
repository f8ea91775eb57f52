"""CSV rows -> split-tagged, missing-value-handled columns -> model-ready arrays and a DataSpec.

The steps are per chunk (:func:`prepare_chunk`, :func:`assemble`) so the in-memory loader
(one chunk: the whole file) and the streaming loader (many chunks) share them. No TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dltrain.config.schema import CsvData
from dltrain.data.csv.columns import (
    ColumnPlan,
    canonical_label,
    first_missing,
    input_name,
    missing_error,
    parse_floats,
    parse_strings,
    parse_text,
)
from dltrain.data.csv.preprocess import build_preprocess
from dltrain.data.csv.reader import Chunk, is_missing
from dltrain.data.csv.stats import TabularStats
from dltrain.data.memory import aligned_empty
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import DataError

__all__ = [
    "PreparedChunk",
    "apply_missing",
    "assemble",
    "encode_targets",
    "exclude_rows",
    "prepare_chunk",
    "tabular_spec",
]

_TEXT_HINT = (
    "add the column to data.categorical if it holds categories (or set `categorical: auto`), "
    "or fix the value"
)
_TARGET_HINT = "set data.task to binary or multiclass if it holds classes, or fix the value"


@dataclass
class PreparedChunk:
    """The rows of one chunk that survive missing-value handling, column by column."""

    codes: np.ndarray
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categorical: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    text: dict[str, np.ndarray] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    excluded: int = 0
    """Rows left out by ``data.exclude``."""

    def __len__(self) -> int:
        return len(self.codes)

    def empty_features(self) -> dict[str, int]:
        """Empty feature cells per column among the kept rows (what ``missing: mean`` fills)."""
        counts = {c: int(_empty(v).sum()) for c, v in {**self.numeric, **self.categorical}.items()}
        return {c: n for c, n in counts.items() if n}

    def select(self, mask: np.ndarray) -> PreparedChunk:
        """The rows where ``mask`` is true (the counts are kept)."""
        # The mask becomes indices once: taking them is several times faster than masking
        # every column again (the same rows, in the same order).
        index = np.flatnonzero(mask)
        return PreparedChunk(
            self.codes.take(index),
            {k: v.take(index) for k, v in self.numeric.items()},
            {k: v.take(index) for k, v in self.categorical.items()},
            {k: v.take(index) for k, v in self.targets.items()},
            {k: v.take(index) for k, v in self.text.items()},
            dict(self.present),
            self.dropped,
            self.excluded,
        )


def prepare_chunk(
    chunk: Chunk,
    plan: ColumnPlan,
    data: CsvData,
    path: Path,
    codes: np.ndarray,
    *,
    with_targets: bool = True,
) -> PreparedChunk:
    """Parse the used columns of ``chunk``, applying ``data.missing``.

    ``codes`` gives each row's split. ``drop`` removes rows with an empty used cell; ``mean``
    keeps them (filled later from training statistics) but drops rows without a target.

    Raises:
        DataError: text in a numeric column, or (``missing: error``) the first empty cell.
    """
    chunk, codes, excluded = exclude_rows(chunk, plan, codes)
    fields = {c: plan.index(c) for c in plan.features}
    if with_targets:
        fields.update({t: plan.index(t) for t in plan.targets})
    # Text cells are never missing unless the column says so (``empty: missing``).
    located = {c: f for c, f in fields.items() if c not in plan.text}
    located.update({c: fields[c] for c in _text_may_be_missing(plan)})
    text = frozenset(plan.text)
    out = PreparedChunk(codes)
    try:
        for column in plan.features:
            if column in plan.categorical:
                out.categorical[column] = parse_strings(chunk, fields[column])
            elif column in plan.text:
                out.text[column] = parse_text(chunk, fields[column])
            else:
                out.numeric[column] = parse_floats(chunk, fields[column], column, path, _TEXT_HINT)
        if with_targets:
            for target in plan.targets:
                field_ = fields[target]
                if plan.tasks[target] == "regression":
                    out.targets[target] = parse_floats(chunk, field_, target, path, _TARGET_HINT)
                else:
                    out.targets[target] = np.array(
                        [
                            "" if is_missing(r[field_]) else canonical_label(r[field_])
                            for r in chunk.rows
                        ],
                        dtype=object,
                    )
    except DataError:
        # An empty cell is reported before text in a numeric column, as it always was.
        if data.missing == "error" and (hit := first_missing(chunk, located, text)) is not None:
            raise missing_error(path, chunk, *hit) from None
        raise

    def locate() -> DataError | None:
        hit = first_missing(chunk, located, text)
        return None if hit is None else missing_error(path, chunk, *hit)

    out.excluded = excluded
    return apply_missing(out, data, locate, plan)


def exclude_rows(
    chunk: Chunk, plan: ColumnPlan, codes: np.ndarray
) -> tuple[Chunk, np.ndarray, int]:
    """``chunk`` and its split codes without the rows ``data.exclude`` leaves out."""
    if not plan.exclude:
        return chunk, codes, 0
    fields = {plan.index(c): values for c, values in plan.exclude.items()}
    keep = [
        i
        for i, row in enumerate(chunk.rows)
        if not any(row[f].strip() in values for f, values in fields.items())
    ]
    if len(keep) == len(chunk.rows):
        return chunk, codes, 0
    kept = Chunk(
        [chunk.rows[i] for i in keep], [chunk.lines[i] for i in keep], chunk.start, chunk.decimal
    )
    return kept, codes[keep], len(chunk.rows) - len(keep)


def _text_may_be_missing(plan: ColumnPlan) -> list[str]:
    return [c for c, options in plan.text.items() if options.empty == "missing"]


def apply_missing(
    out: PreparedChunk,
    data: CsvData,
    locate: Callable[[], DataError | None],
    plan: ColumnPlan,
) -> PreparedChunk:
    """Count the empty cells of parsed columns and apply ``data.missing`` to them.

    ``locate`` names the first empty cell for ``missing: error`` (``None``: nothing to name).
    An empty text cell is missing only when its column says ``empty: missing``.

    Raises:
        DataError: what ``locate`` returns.
    """
    texts = {c: out.text[c] for c in _text_may_be_missing(plan)}
    parsed = {**out.numeric, **out.categorical, **texts, **out.targets}
    empty = {c: _empty(v) for c, v in parsed.items()}
    # Scanning every cell for emptiness is the costliest step of a load; only locate the
    # first empty cell when the parsed columns show there is one.
    if data.missing == "error" and any(e.any() for e in empty.values()):
        error = locate()
        if error is not None:
            raise error
    out.present = {c: int((~e).sum()) for c, e in empty.items()}
    target_empty = [empty[t] for t in out.targets]
    if data.missing == "drop":
        bad = np.logical_or.reduce(list(empty.values())) if empty else None
    else:
        bad = np.logical_or.reduce(target_empty) if target_empty else None
    if bad is not None and bad.any():
        out = out.select(~bad)
        out.dropped = int(bad.sum())
    return out


def _empty(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.asarray(values == "", dtype=bool)
    return np.asarray(np.isnan(values), dtype=bool)


def encode_targets(
    prepared: PreparedChunk, plan: ColumnPlan, infos: list[TargetInfo]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(y arrays as the model sees them, per-target 1-D labels for reports).

    Regression and binary targets are float32 (n, 1); multiclass ones int32 class indices
    (n,), or float32 one-hot (n, classes) when ``one_hot``.
    """
    ys: list[np.ndarray] = []
    plain: list[np.ndarray] = []
    for info in infos:
        values = prepared.targets[info.name]
        if info.task == "regression":
            floats = values.astype(np.float32)
            ys.append(floats.reshape(-1, 1))
            plain.append(floats)
            continue
        lookup = {name: i for i, name in enumerate(info.class_names or ())}
        index = np.fromiter((lookup[v] for v in values), dtype=np.int32, count=len(values))
        plain.append(index)
        if info.task == "binary":
            ys.append(index.astype(np.float32).reshape(-1, 1))
        elif info.one_hot:
            ys.append(np.eye(len(lookup), dtype=np.float32)[index])
        else:
            ys.append(index)
    return ys, plain


def assemble(
    prepared: PreparedChunk, plan: ColumnPlan, stats: TabularStats, *, consume: bool = False
) -> dict[str, np.ndarray]:
    """Raw model inputs by name: per group a float32 (n, k) matrix of its numeric columns, per
    categorical or text column a (n, 1) string array; empty cells filled from training
    statistics.

    ``consume``: drop each numeric column from ``prepared`` once copied, so a large split is
    not held twice.
    """
    x: dict[str, np.ndarray] = {}
    last = {c: group for group, cols in plan.groups.items() for c in cols}
    numeric_columns = set(plan.numeric)
    for group, cols in plan.groups.items():
        numeric = [c for c in cols if c in numeric_columns]
        if numeric:
            # Aligned, so the pipeline's tensor shares this buffer instead of copying it.
            matrix = aligned_empty((len(prepared), len(numeric)), np.float32)
            _fill_matrix(matrix, [prepared.numeric[c] for c in numeric], numeric, stats)
            if consume:
                for column in numeric:
                    if last[column] == group:
                        del prepared.numeric[column]
            x[input_name(group)] = matrix
    for col in plan.features:
        if col in plan.categorical:
            values = prepared.categorical[col]
            filled = np.where(values == "", stats.mode.get(col, ""), values)
            x[input_name(col)] = filled.astype(str).reshape(-1, 1)
        elif col in plan.text:
            # One string per row (no (n, 1) axis): TextVectorization then gives (n, length)
            # token ids or an (n, vocabulary) vector.
            x[input_name(col)] = prepared.text[col].astype(str)
    return x


_BLOCK_ROWS = 8192
"""Rows :func:`_fill_matrix` writes at a time: a block of every column (~0.6 MiB for 20)
stays in cache, where writing a whole column at a time strides over the matrix (3x slower,
measured on 640,000 x 20)."""


def _fill_matrix(
    matrix: np.ndarray, columns: list[np.ndarray], names: list[str], stats: TabularStats
) -> None:
    """``matrix[:, j] = columns[j]`` in float32, empty cells (NaN) filled with the training
    mean, a block of rows at a time."""
    means = np.array([stats.mean[c] for c in names], dtype=np.float32)
    for start in range(0, len(matrix), _BLOCK_ROWS):
        block = matrix[start : start + _BLOCK_ROWS]
        parts = [c[start : start + _BLOCK_ROWS] for c in columns]
        np.stack(parts, axis=1, out=block, casting="same_kind")
        missing = np.isnan(block)
        if missing.any():
            block[missing] = np.broadcast_to(means, block.shape)[missing]


def check_present(present: dict[str, int], rows: int, plan: ColumnPlan, path: Path) -> None:
    """A used column without a single value in the whole file is an error, not a warning.

    Raises:
        DataError: naming the column.
    """
    for column in [*plan.features, *plan.targets]:
        if rows and present.get(column, rows) == 0:
            raise DataError(
                f"{path}: column {column!r} has no values (all {rows} rows are empty); "
                "remove it from the features or fill it"
            )


def tabular_spec(
    plan: ColumnPlan, stats: TabularStats, targets: list[TargetInfo], missing: str = "error"
) -> DataSpec:
    """Raw inputs, model inputs and preprocessing for CSV data.

    With ``missing: mean`` the spec also records the fill value of every feature column.
    Text columns record their settings and adapted vocabulary.
    """
    raw: list[InputInfo] = []
    model: list[InputInfo] = []
    numeric_columns = set(plan.numeric)
    for group, cols in plan.groups.items():
        numeric = tuple(c for c in cols if c in numeric_columns)
        if numeric:
            raw.append(InputInfo(input_name(group), (len(numeric),), "float32", numeric))
        joined = [c for c in cols if plan.joins_group(c)]
        if joined:
            width = sum(_width(c, plan, stats) for c in joined)
            model.append(InputInfo(input_name(group), (width,), "float32"))
    for col in plan.features:
        if col in plan.categorical:
            raw.append(InputInfo(input_name(col), (1,), "string", (col,)))
        elif col in plan.text:
            raw.append(InputInfo(input_name(col), (), "string", (col,)))
            if not plan.joins_group(col):
                length = plan.text[col].sequence_length
                model.append(InputInfo(input_name(col), (length,), "int64"))
    preprocess = build_preprocess(plan, stats)
    fill: dict[str, float | str] = {}
    if missing == "mean":
        fill = {c: stats.mode.get(c, "") for c in plan.features if c in plan.categorical}
        fill.update({c: stats.mean[c] for c in plan.numeric})
        fill.update({c: "" for c in plan.text})
    text = {c: stats.text[c].to_json() for c in plan.text}
    return DataSpec("csv", raw, model, targets, preprocess, fill, text)


def _width(column: str, plan: ColumnPlan, stats: TabularStats) -> int:
    """Values a feature column adds to its group's model input."""
    if column in plan.categorical:
        return len(stats.vocab[column]) + 1
    if column in plan.text:
        return len(stats.text[column].vocabulary)
    return 1
