"""Which CSV feature columns hold text: ``categorical: auto``, and the all-columns error.

Both ask the same question of the whole file (every row up to ``data.limit``, whatever its
split, as the numeric parse has always checked every row): which columns have a non-empty
cell that is not a number, and where is the first one. No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dltrain.data.csv.reader import CsvFormat, is_missing, iter_chunks
from dltrain.errors import DataError

__all__ = ["TextCell", "find_text_columns", "text_columns_error"]

_SCAN_ROWS = 65536


@dataclass(frozen=True)
class TextCell:
    """The first non-number cell of a column: ``file:line:col`` and the cell as written."""

    where: str
    text: str


def find_text_columns(
    path: Path, fmt: CsvFormat, columns: Sequence[str], limit: int | None
) -> dict[str, TextCell]:
    """The columns among ``columns`` with a non-empty cell that is not a number, in file order.

    Raises:
        DataError: a malformed file (as the careful reader reports it).
    """
    fields = {c: fmt.columns.index(c) for c in columns}
    found: dict[str, TextCell] = {}
    for chunk in iter_chunks(path, fmt, _SCAN_ROWS, limit):
        for column, field in fields.items():
            if column in found:
                continue
            cells = [row[field] for row in chunk.rows]
            if chunk.decimal == ",":
                cells = [cell.replace(",", ".") for cell in cells]
            try:
                # Whole column in C; only a column with an empty or text cell is looped over.
                np.array(cells, dtype=np.float64)
                continue
            except ValueError:
                pass
            for i, cell in enumerate(cells):
                try:
                    float(cell)
                except ValueError:
                    if not is_missing(cell):
                        written = chunk.rows[i][field].strip()
                        found[column] = TextCell(f"{path}:{chunk.lines[i]}:{field + 1}", written)
                        break
        if len(found) == len(fields):
            break
    return {c: found[c] for c in columns if c in found}


def text_columns_error(found: dict[str, TextCell]) -> DataError:
    """One error naming every feature column that holds text, and the ``categorical:`` line."""
    (first, cell), *others = found.items()
    message = f"{cell.where}: column {first!r} holds text {cell.text!r} where numbers are expected"
    if others:
        also = ", ".join(f"{c!r} ({o.where}: {o.text!r})" for c, o in others)
        message += f"; so do {also}"
    names = ", ".join(found)
    noun, pronoun = ("columns", "they hold") if others else ("column", "it holds")
    return DataError(
        f"{message}; add the {noun} to data.categorical if {pronoun} categories "
        f"(`categorical: [{names}]`, or `categorical: auto` to take every text column), "
        "or fix the values"
    )
