"""``data.target_scaling``: the ``log`` refusal of values <= 0, located, and the scale each
target's :class:`~dltrain.data.spec.TargetInfo` carries (no TensorFlow).

The statistics themselves are gathered by :class:`~dltrain.data.csv.stats.StatsAccumulator`
from the training rows; the model applies and undoes the scaling (``dltrain.model``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dltrain.config.schema import CsvData
from dltrain.data.csv.columns import parse_floats
from dltrain.data.csv.layout import CsvFile
from dltrain.data.csv.reader import is_missing, iter_chunks
from dltrain.data.csv.stats import TEST, TabularStats
from dltrain.data.csv.tabular import PreparedChunk, exclude_rows
from dltrain.data.spec import TargetInfo
from dltrain.errors import DataError

__all__ = ["check_log_targets", "scaled_targets"]


def check_log_targets(prepared: PreparedChunk, source: CsvFile, data: CsvData, seed: int) -> None:
    """Refuse a chunk in which a ``log``-scaled target holds a value <= 0 (any split).

    Raises:
        DataError: ``file:row:col`` of the first such cell in the file.
    """
    for target, mode in source.plan.scaling.items():
        values = prepared.targets.get(target)
        if mode == "log" and values is not None and bool((values <= 0).any()):
            raise _locate(source, data, seed, target)


def _locate(source: CsvFile, data: CsvData, seed: int, target: str) -> DataError:
    """The error for the first used cell of ``target`` that is <= 0, read row by row."""
    plan = source.plan
    field = plan.index(target)
    used = [plan.index(c) for c in [*plan.features, *plan.targets] if c not in plan.text]
    for chunk in iter_chunks(source.path, source.fmt, data.chunk_rows, data.limit):
        codes = source.split_codes(chunk.start, len(chunk.rows), seed, data)
        kept, codes, _ = exclude_rows(chunk, plan, codes)
        values = parse_floats(kept, field, target, source.path, "")
        for i in np.flatnonzero(values <= 0):
            row = kept.rows[i]
            # Rows the loaders leave out cannot be the reason.
            if source.skip_test and codes[i] == TEST:
                continue
            if data.missing == "drop" and any(is_missing(row[f]) for f in used):
                continue
            return _error(f"{source.path}:{kept.lines[i]}:{field + 1}", target, row[field])
    return _error(str(source.path), target, "a value <= 0")


def _error(where: str, target: str, value: str) -> DataError:
    return DataError(
        f"{where}: column {target!r} holds {value.strip()}; target_scaling: log needs values "
        "above 0 (use standard, or fix the value)"
    )


def scaled_targets(infos: list[TargetInfo], stats: TabularStats) -> list[TargetInfo]:
    """``infos`` with the scale of each target the training statistics cover."""
    return [
        replace(info, scale=stats.target_scale[info.name])
        if info.name in stats.target_scale
        else info
        for info in infos
    ]
