"""Reading CSV files in chunks, with the delimiter and header detected, and located errors.

Row numbers are the 1-based line numbers an editor shows (the header is row 1), so every
error can point at ``file.csv:ROW:COL``. No TensorFlow here.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dltrain.data.compressed import open_data_bytes, open_data_text
from dltrain.errors import DataError

__all__ = [
    "Chunk",
    "CsvFormat",
    "count_line_breaks",
    "detect_format",
    "is_comma_number",
    "is_missing",
    "iter_chunks",
    "max_cell_chars",
    "read_all",
]

_SNIFF_ROWS = 50
_BLOCK = 1 << 24
_DELIMITERS = ",;\t|"
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
"""Cell values (case-insensitive, stripped) that count as missing."""


def is_missing(value: str) -> bool:
    """Whether a cell counts as empty (see :data:`MISSING_TOKENS`)."""
    return value.strip().lower() in MISSING_TOKENS


_COMMA_NUMBER = re.compile(r"^[-+]?\d*,\d+(?:[eE][-+]?\d+)?$")
_POINT_NUMBER = re.compile(r"^[-+]?\d*\.\d+(?:[eE][-+]?\d+)?$")


def is_comma_number(value: str) -> bool:
    """Whether a cell is a number written with a decimal comma, such as ``29,1``."""
    return bool(_COMMA_NUMBER.match(value.strip()))


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is laid out: delimiter, header row, column names and decimal mark."""

    delimiter: str
    header: bool
    columns: tuple[str, ...]
    decimal: str = "."


@dataclass
class Chunk:
    """Consecutive data rows: raw fields, editor line numbers, index of the first data row."""

    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    start: int = 0
    decimal: str = "."
    """The file's decimal mark (numbers are parsed with it)."""


def _open(path: Path) -> IO[str]:
    # utf-8-sig drops the byte-order mark spreadsheet programs write; .gz/.bz2 decompress.
    return open_data_text(path, "a CSV file")


def _is_number(value: str, decimal: str = ".") -> bool:
    try:
        float(value.replace(",", ".") if decimal == "," else value)
    except ValueError:
        return False
    return True


def _sniff_delimiter(lines: list[str]) -> str:
    try:
        return csv.Sniffer().sniff("".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _detect_header(rows: list[list[str]], decimal: str) -> bool:
    """Row 1 is a header when some column is numeric below it but not in it."""
    first, below = rows[0], rows[1:]
    if not below:
        return not any(_is_number(v, decimal) for v in first)
    any_numeric = False
    for col, name in enumerate(first):
        values = [r[col] for r in below if col < len(r) and not is_missing(r[col])]
        if values and all(_is_number(v, decimal) for v in values):
            any_numeric = True
            if not _is_number(name, decimal) and not is_missing(name):
                return True
    # All-text files: a header is far more common than none.
    return not any_numeric and not any(_is_number(v, decimal) for v in first)


def _detect_decimal(rows: list[list[str]], delimiter: str) -> str:
    """``,`` when it obviously is the decimal mark: the separator is not a comma, some cells
    are numbers written with a comma (``29,1``) and none with a point (``29.1``)."""
    if delimiter == ",":
        return "."
    cells = [value for row in rows for value in row]
    if any(_POINT_NUMBER.match(v.strip()) for v in cells):
        return "."
    return "," if any(is_comma_number(v) for v in cells) else "."


def detect_format(
    path: Path, delimiter: str | None, header: bool | None, decimal: str | None = None
) -> CsvFormat:
    """Delimiter (sniffed unless given), header and decimal mark (detected unless given), and
    column names.

    Raises:
        DataError: missing or empty file, a header without data rows, duplicate column names.
    """
    with _open(path) as handle:
        try:
            lines = list(itertools.islice(handle, _SNIFF_ROWS))
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    numbers = [i + 1 for i, ln in enumerate(lines) if ln.strip()]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise DataError(f"{path}: the file is empty")
    delim = delimiter or _sniff_delimiter(lines)
    reader = csv.reader(lines, delimiter=delim)
    try:
        rows = [r for r in reader if r]
    except csv.Error as exc:
        raise DataError(_row_problem(path, numbers[reader.line_num - 1], exc)) from None
    mark = decimal or _detect_decimal(rows, delim)
    has_header = _detect_header(rows, mark) if header is None else header
    if has_header:
        names = [v.strip() or f"c{i}" for i, v in enumerate(rows[0])]
        if len(rows) == 1:
            raise DataError(f"{path}: has a header row but no data rows")
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                raise DataError(
                    f"{path}:1:{i + 1}: column name {name!r} appears twice "
                    f"(columns {seen[name] + 1} and {i + 1})"
                )
            seen[name] = i
    else:
        names = [f"c{i}" for i in range(len(rows[0]))]
    return CsvFormat(delim, has_header, tuple(names), mark)


def count_line_breaks(path: Path) -> tuple[int, bool]:
    """(line breaks, whether the last byte is one) of the file's decompressed bytes.

    A line break is a ``\n``, or a ``\r`` in files that end lines with it alone: the larger
    of the two counts, so ``\r\n`` counts once. ``\r`` is counted only until a ``\n`` is
    seen (one pass over the bytes instead of two; a file that mixes both is undercounted,
    which the callers tolerate: a bound that grows, a fast path that declines).
    """
    newlines = returns = 0
    last = b""
    with open_data_bytes(path, "a CSV file") as handle:
        while block := handle.read(_BLOCK):
            newlines += block.count(b"\n")
            if not newlines:
                returns += block.count(b"\r")
            last = block[-1:]
    return max(newlines, returns), last in (b"\n", b"\r")


def max_cell_chars() -> int:
    """The longest cell either CSV reader accepts: the :mod:`csv` module's field limit
    (131,072 characters unless changed), past which it stops with a bare ``csv.Error``."""
    return csv.field_size_limit()


def _row_problem(path: Path, line: int, exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"{path}:{line}: a cell is longer than {max_cell_chars():,} characters"
    return f"{path}:{line}: unreadable CSV row ({exc})"


def iter_chunks(
    path: Path, fmt: CsvFormat, chunk_rows: int, limit: int | None = None
) -> Iterator[Chunk]:
    """Data rows in chunks of up to ``chunk_rows``; blank lines are skipped.

    Raises:
        DataError: a row whose field count differs from the header's (ragged row).
    """
    width = len(fmt.columns)
    index = 0
    chunk = Chunk(start=0, decimal=fmt.decimal)
    skip_header = fmt.header
    with _open(path) as handle:
        reader = csv.reader(handle, delimiter=fmt.delimiter)
        ended = 0
        try:
            for row in reader:
                # A record with a line break inside quotes spans lines: name its first.
                first, ended = ended + 1, reader.line_num
                if not row or (len(row) == 1 and not row[0].strip() and width > 1):
                    continue
                if skip_header:
                    skip_header = False
                    continue
                if len(row) != width:
                    raise DataError(
                        f"{path}:{first}: row has {len(row)} fields, the "
                        f"{'header' if fmt.header else 'first row'} has {width}"
                    )
                chunk.rows.append(row)
                chunk.lines.append(first)
                index += 1
                if limit is not None and index >= limit:
                    break
                if len(chunk.rows) >= chunk_rows:
                    yield chunk
                    chunk = Chunk(start=index, decimal=fmt.decimal)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise DataError(_row_problem(path, reader.line_num, exc)) from None
    if chunk.rows:
        yield chunk


def read_all(path: Path, fmt: CsvFormat, limit: int | None = None) -> Chunk:
    """Every data row of the file as one chunk.

    Raises:
        DataError: as :func:`iter_chunks`, or no data rows at all.
    """
    out = Chunk(decimal=fmt.decimal)
    for chunk in iter_chunks(path, fmt, 1 << 30, limit):
        out.rows += chunk.rows
        out.lines += chunk.lines
    if not out.rows:
        raise DataError(f"{path}: has no data rows")
    return out
