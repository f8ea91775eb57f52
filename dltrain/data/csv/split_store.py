"""The rows of prepared chunks gathered into one array per split and column, in place.

Loading a large file chunk by chunk and concatenating the pieces at the end holds every row
twice and leaves the allocator's heap full of chunk-sized holes, which the process keeps.
Here each split's columns are allocated once, as large as the file can fill (from its size
and the length of its first rows, with a margin: pages never written cost no memory), and
every chunk's rows are copied straight to their place. Numeric feature columns are kept as
float32, the dtype the model inputs have (training statistics are taken from the float64
chunks before that). No TensorFlow here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.compressed import compression_of
from dltrain.data.csv.reader import count_line_breaks
from dltrain.data.csv.tabular import PreparedChunk

__all__ = ["SplitStore", "row_bound", "row_capacity"]

_KINDS = ("numeric", "categorical", "targets", "text")
_SAMPLE_BYTES = 1 << 20
_MARGIN = 1.25


def row_bound(path: Path) -> int:
    """At most this many rows: one per line break (``\\n`` or ``\\r``), plus a last line."""
    return count_line_breaks(path)[0] + 1  # decompressed lines, if .gz/.bz2


def row_capacity(path: Path) -> int:
    """Room for the rows of ``path``, without reading it all.

    A plain file's size over the mean length of the lines in its first MiB, plus a quarter:
    counting every line break (:func:`row_bound`) took a tenth of a load (docs/benchmarks.md).
    Exact for a compressed file (whose size says little) and one that fits in the sample.
    Shorter lines further on only make a :class:`SplitStore` grow.
    """
    size = path.stat().st_size
    if size <= _SAMPLE_BYTES or compression_of(path) is not None:
        return row_bound(path)
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE_BYTES)
    lines = head.count(b"\n") or head.count(b"\r") or 1
    return int(size / (len(head) / lines) * _MARGIN) + 1


def _stored(kind: str, values: np.ndarray) -> np.dtype[Any]:
    return np.dtype(np.float32) if kind == "numeric" else values.dtype


class SplitStore:
    """Per split code, the kept rows of every chunk :meth:`add` saw, in order.

    ``capacity`` is a bound on the rows of each split; a split that outgrows it still works
    (its arrays are reallocated, larger).
    """

    def __init__(self, capacity: dict[int, int]) -> None:
        self._capacity = dict(capacity)
        self._columns: dict[int, dict[str, dict[str, np.ndarray]]] = {}
        self._codes: dict[int, int] = dict.fromkeys(capacity, 0)

    def add(self, prepared: PreparedChunk) -> None:
        """Copy the rows of ``prepared`` to the end of their splits."""
        for code in self._capacity:
            # Indices, once per split: taking them is several times faster than masking
            # every column.
            index = np.flatnonzero(prepared.codes == code)
            count = len(index)
            if code not in self._columns:
                self._columns[code] = {
                    kind: {
                        name: np.empty(self._capacity[code], dtype=_stored(kind, values))
                        for name, values in getattr(prepared, kind).items()
                    }
                    for kind in _KINDS
                }
            if not count:
                continue
            start, stop = self._codes[code], self._codes[code] + count
            for kind in _KINDS:
                columns = self._columns[code][kind]
                for name, values in getattr(prepared, kind).items():
                    if stop > len(columns[name]):
                        grown = np.empty(max(stop, 2 * len(columns[name])), columns[name].dtype)
                        grown[:start] = columns[name][:start]
                        columns[name] = grown
                    columns[name][start:stop] = values.take(index)
            self._codes[code] = stop

    def take(self, code: int) -> PreparedChunk:
        """The rows of split ``code`` (forgotten here, so they are freed with the result)."""
        n = self._codes[code]
        columns = self._columns.pop(code, {kind: {} for kind in _KINDS})
        out = PreparedChunk(np.full(n, code, dtype=np.uint8))
        for kind in _KINDS:
            # A view of the first ``n`` rows: the unwritten tail was never in memory.
            getattr(out, kind).update({k: v[:n] for k, v in columns[kind].items()})
        return out
