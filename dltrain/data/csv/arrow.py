"""The fast CSV path: pyarrow's multi-threaded columnar reader, with no Python work per row.

Columns are parsed with explicit types: numeric features and regression targets as float64
(missing-value tokens become NaN), categorical features and class labels as dictionary-encoded
strings whose few distinct values are then cleaned in Python (stripped, missing tokens -> ``""``,
labels canonicalized), exactly as :mod:`dltrain.data.csv.columns` does cell by cell. Unused
columns are read as strings only so that bad UTF-8 anywhere still fails.

Anything the fast path cannot vouch for (a ragged row, text in a numeric column, an infinite
number, an empty cell under ``missing: error``, bad UTF-8, quoted line breaks, a leading blank
line before the header) raises :class:`FastPathFailed`; the caller then re-reads that part of
the file with the careful row-by-row reader, which names ``file:row:col`` in its error, or
accepts what pyarrow would not (the two agree on every file both accept).
No TensorFlow here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.compressed import compression_of, open_data_bytes
from dltrain.data.csv.columns import ColumnPlan, canonical_label
from dltrain.data.csv.reader import (
    MISSING_TOKENS,
    CsvFormat,
    count_line_breaks,
    is_missing,
    max_cell_chars,
)

__all__ = ["FastPathFailed", "ParsedChunk", "fast_chunks", "fast_columns"]

_BLOCK_BYTES = 8 << 20
"""Bytes pyarrow parses per block (one record batch); the threads work on several at once.
Large, so that few batches cross into Python: the data is loaded while TensorFlow is imported
(:mod:`dltrain.data.ahead`), and each batch waits up to 5 ms for the interpreter lock the
import holds (1 MiB blocks made a 1M-row load 6 s instead of 1.5 s beside the import)."""


class FastPathFailed(Exception):
    """The fast reader cannot vouch for the rows from ``start`` on; use the careful one."""

    def __init__(self, start: int, reason: str) -> None:
        super().__init__(f"row {start}: {reason}")
        self.start = start


@dataclass
class ParsedChunk:
    """Up to ``chunk_rows`` consecutive data rows, column by column, before missing handling.

    Numeric columns are float64 with NaN where missing; string columns are object arrays of
    cleaned strings with ``""`` where missing (what :func:`dltrain.data.csv.columns.parse_floats`
    and :func:`~dltrain.data.csv.columns.parse_strings` return).
    """

    start: int
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categorical: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    text: dict[str, np.ndarray] = field(default_factory=dict)
    excluded: np.ndarray | None = None
    """With ``data.exclude``: the rows it leaves out."""
    lines: np.ndarray | None = None
    """From :func:`fast_columns`: each row's line number in the file (the header is 1)."""

    def __len__(self) -> int:
        columns = {**self.numeric, **self.categorical, **self.targets, **self.text}
        return len(next(iter(columns.values())))


def _cases(token: str) -> list[str]:
    """Every upper/lower-case spelling of ``token`` (pyarrow matches null values exactly)."""
    options = [{c.lower(), c.upper()} for c in token]
    return ["".join(p) for p in itertools.product(*options)]


_NULLS = sorted({spelling for token in MISSING_TOKENS for spelling in _cases(token)})


def _clean_category(value: str) -> str:
    return "" if is_missing(value) else value.strip()


def _clean_label(value: str) -> str:
    return "" if is_missing(value) else canonical_label(value)


def _starts_with_header(path: Path) -> bool:
    """Whether the first line holds the header (pyarrow skips lines, not blank-skipped rows)."""
    with open_data_bytes(path, "a CSV file") as handle:
        first = handle.readline(1 << 16)
    return bool(first.removeprefix(b"\xef\xbb\xbf").strip())


def fast_chunks(
    path: Path,
    fmt: CsvFormat,
    plan: ColumnPlan,
    chunk_rows: int,
    limit: int | None = None,
    *,
    with_targets: bool = True,
) -> Iterator[ParsedChunk]:
    """The data rows in chunks of ``chunk_rows`` (the last may be shorter), as the careful
    reader would chunk them.

    Raises:
        FastPathFailed: at the first chunk the fast path cannot vouch for; every chunk before
            it has been yielded.
    """
    kinds = _column_kinds(plan, with_targets)
    return _chunks(path, fmt, kinds, plan.exclude, chunk_rows, limit)


def fast_columns(path: Path, fmt: CsvFormat, kinds: Mapping[str, _Kind]) -> ParsedChunk | None:
    """Every data row of ``path`` in one chunk, with each row's line number in ``lines``;
    ``None`` when the file has no data row.

    ``kinds``: ``numeric``, ``category`` or ``text`` per column to parse; the other columns
    are checked and left out (``dltrain predict`` reads what the model takes this way).

    Raises:
        FastPathFailed: as :func:`fast_chunks`, or the file has lines that hold no data row
            (blank lines), so that a row's line number does not follow from its index.
    """
    every = dict.fromkeys(fmt.columns, "unused") | dict(kinds)
    parsed = next(_chunks(path, fmt, every, {}, 1 << 62, None), None)
    if parsed is None:
        return None
    breaks, ends = count_line_breaks(path)
    lines = breaks + (0 if ends else 1)
    first = 2 if fmt.header else 1
    if lines != len(parsed) + first - 1:
        raise FastPathFailed(0, f"{lines} lines for {len(parsed)} rows: blank lines")
    parsed.lines = np.arange(first, first + len(parsed))
    return parsed


def _chunks(
    path: Path,
    fmt: CsvFormat,
    kinds: dict[str, _Kind],
    exclude: Mapping[str, frozenset[str]],
    chunk_rows: int,
    limit: int | None,
) -> Iterator[ParsedChunk]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if fmt.header and not _starts_with_header(path):
        raise FastPathFailed(0, "blank lines before the header")
    types = {name: _arrow_type(pa, kind) for name, kind in kinds.items()}
    reader_options = pacsv.ReadOptions(
        column_names=list(fmt.columns), skip_rows=1 if fmt.header else 0, block_size=_BLOCK_BYTES
    )
    parse_options = pacsv.ParseOptions(delimiter=fmt.delimiter, quote_char='"')
    convert_options = pacsv.ConvertOptions(
        column_types=types,
        null_values=_NULLS,
        strings_can_be_null=False,
        decimal_point=fmt.decimal,
    )
    start = 0
    pending: list[dict[str, np.ndarray]] = []
    held = 0
    # A compressed file is read through the bounded stream (see dltrain.data.compressed).
    source = path if compression_of(path) is None else open_data_bytes(path, "a CSV file")
    try:
        reader = pacsv.open_csv(
            source,
            read_options=reader_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        for batch in reader:
            pending.append(_to_numpy(batch, kinds, exclude))
            held += batch.num_rows
            if limit is not None and start + held >= limit:
                break
            while held >= chunk_rows:
                columns = _concatenate(pending)
                pending, held = [_slice(columns, chunk_rows, None)], held - chunk_rows
                yield _chunk(start, _slice(columns, 0, chunk_rows), kinds)
                start += chunk_rows
    except (FastPathFailed, pa.ArrowException, ValueError, UnicodeDecodeError) as exc:
        # Rows before ``start`` are yielded; the careful reader takes over from there.
        raise FastPathFailed(start, str(exc)) from None
    finally:
        if not isinstance(source, Path):
            source.close()
        # The reader's blocks are freed by now; without this the pool keeps their pages.
        pa.default_memory_pool().release_unused()
    columns = _concatenate(pending) if pending else {}
    if limit is not None:
        held = min(held, limit - start)
    while held > 0:
        size = min(chunk_rows, held)
        yield _chunk(start, _slice(columns, 0, size), kinds)
        columns, held, start = _slice(columns, size, None), held - size, start + size


_Kind = str
"""``numeric`` (feature), ``category``, ``text``, ``regression`` or ``label`` (target),
``unused``."""

_EXCLUDED = "\0excluded"
"""The key of the rows ``data.exclude`` leaves out among a batch's columns."""


def _column_kinds(plan: ColumnPlan, with_targets: bool) -> dict[str, _Kind]:
    kinds = dict.fromkeys(plan.columns, "unused")
    for column in plan.features:
        if column in plan.categorical:
            kinds[column] = "category"
        elif column in plan.text:
            kinds[column] = "text"
        else:
            kinds[column] = "numeric"
    if with_targets:
        for target in plan.targets:
            kinds[target] = "regression" if plan.tasks[target] == "regression" else "label"
    return kinds


def _arrow_type(pa: Any, kind: _Kind) -> Any:
    if kind in ("numeric", "regression"):
        return pa.float64()
    if kind in ("unused", "text"):
        return pa.string()
    return pa.dictionary(pa.int32(), pa.string())


def _to_numpy(
    batch: Any, kinds: dict[str, _Kind], exclude: Mapping[str, frozenset[str]]
) -> dict[str, np.ndarray]:
    """One record batch as NumPy columns (unused columns dropped), and under ``_EXCLUDED``
    the rows ``exclude`` leaves out.

    Raises:
        FastPathFailed: an infinite number, a text cell longer than the careful reader
            accepts (the careful reader names its cell), or ``exclude`` on a number column.
    """
    out: dict[str, np.ndarray] = {}
    if exclude:
        out[_EXCLUDED] = _excluded(batch, kinds, exclude)
    for name, kind in kinds.items():
        column = batch.column(name)
        if kind != "numeric" and kind != "regression":
            strings = column if kind in ("unused", "text") else column.dictionary
            if _longest_text(strings) > max_cell_chars():
                # pyarrow has no cell limit; the careful reader refuses (and locates) such a
                # cell, so the two agree. UTF-8 bytes >= characters: it decides the close calls.
                raise FastPathFailed(0, f"column {name!r} holds a cell too long for the csv module")
        if kind == "unused":
            continue
        if kind == "text":
            out[name] = np.array([v.strip() for v in column.to_pylist()], dtype=object)
        elif kind in ("numeric", "regression"):
            values = _floats(column)
            if np.isinf(values).any():
                raise FastPathFailed(0, f"column {name!r} holds an infinite number")
            out[name] = values
        else:
            if column.null_count:  # never with strings_can_be_null=False; the indices assume it
                raise FastPathFailed(0, f"column {name!r} has null strings")
            clean: Callable[[str], str] = _clean_category if kind == "category" else _clean_label
            # Clean each distinct value once; rows only index into them.
            names = np.array([clean(v) for v in column.dictionary.to_pylist()], dtype=object)
            out[name] = names[_values(column.indices, np.int32)]
    return out


def _excluded(
    batch: Any, kinds: dict[str, _Kind], exclude: Mapping[str, frozenset[str]]
) -> np.ndarray:
    out = np.zeros(batch.num_rows, dtype=bool)
    for name, values in exclude.items():
        column = batch.column(name)
        if kinds[name] in ("numeric", "regression"):
            # The cell as written is gone once parsed; the careful reader compares it.
            raise FastPathFailed(0, f"data.exclude on the number column {name!r}")
        if kinds[name] in ("unused", "text"):
            out |= np.array([v.strip() in values for v in column.to_pylist()], dtype=bool)
        else:
            hit = np.array([v.strip() in values for v in column.dictionary.to_pylist()])
            out |= hit[_values(column.indices, np.int32)] if hit.size else False
    return out


def _values(array: Any, dtype: type[np.generic]) -> np.ndarray:
    """The values buffer of an Arrow array of fixed-width numbers, without a copy.

    Read straight from the buffer: ``Array.to_numpy`` would import pandas (a second).
    """
    start = array.offset
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=start + len(array))[start:]


def _longest_text(strings: Any) -> int:
    """The UTF-8 length in bytes of the longest value of an Arrow string array (0 if empty)."""
    if not len(strings):
        return 0
    start = strings.offset
    count = start + len(strings) + 1
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=count)[start:]
    return int(np.diff(offsets).max())


def _floats(array: Any) -> np.ndarray:
    """A float64 Arrow array as NumPy, NaN where null."""
    values = _values(array, np.float64)
    if not array.null_count:
        return values
    start = array.offset
    bits = np.frombuffer(array.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bits, count=start + len(array), bitorder="little")[start:]
    return np.where(valid.astype(bool), values, np.nan)


def _concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _slice(columns: dict[str, np.ndarray], start: int, stop: int | None) -> dict[str, np.ndarray]:
    return {name: values[start:stop] for name, values in columns.items()}


def _chunk(start: int, columns: dict[str, np.ndarray], kinds: dict[str, _Kind]) -> ParsedChunk:
    out = ParsedChunk(start)
    for name, values in columns.items():
        kind = kinds.get(name)
        if name == _EXCLUDED:
            out.excluded = values
        elif kind == "category":
            out.categorical[name] = values
        elif kind == "text":
            out.text[name] = values
        elif kind == "numeric":
            out.numeric[name] = values
        else:
            out.targets[name] = values
    return out
