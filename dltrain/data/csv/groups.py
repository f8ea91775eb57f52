"""``data.group``: CSV splits that cut whole groups, so no group is in two splits (no TensorFlow).

Invariant: the same group cells, fractions and seed give the same split of every row. The
distinct group values are sorted, permuted by ``numpy.random.default_rng(seed)`` and taken in
that order, test first, then validation, each until its share of the rows is reached. Unlike
the row cut (:func:`dltrain.data.csv.stats.split_codes`), this needs every row's group before
the first row is placed, hence one pass over the group column first and no ``stream: true``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from dltrain.config.schema import CsvData
from dltrain.data.csv.layout import CsvSources
from dltrain.data.csv.reader import CsvFormat, is_missing, iter_chunks
from dltrain.data.csv.stats import TEST, TRAIN, VALIDATION
from dltrain.errors import DataError

__all__ = [
    "cut_groups",
    "group_sources",
    "groups_per_split",
    "overlap_warning",
    "read_groups",
]

_CHUNK_ROWS = 65536
_SHOWN = 5
_NAMES = {TRAIN: "train", VALIDATION: "validation", TEST: "test"}


def group_sources(data: CsvData, sources: CsvSources, seed: int) -> CsvSources:
    """``sources`` whose main file splits by ``data.group`` (unchanged without it).

    The group counts per split and the warnings (the group column listed as a feature, groups
    both in the training and the test file) are recorded on the result.

    Raises:
        DataError: an empty group cell (located), or too few groups.
    """
    if data.group is None:
        return sources
    column, main = data.group, sources.main
    groups = read_groups(main.path, main.fmt, column, data.limit)
    codes = cut_groups(groups, seed, main.test_fraction, data.validation, column)
    counts = groups_per_split(groups, codes)
    out = replace(sources, main=replace(main, row_codes=codes))
    out.groups = {name: counts.get(code, 0) for code, name in _NAMES.items()}
    out.warnings = list(sources.warnings)
    if column in main.plan.features:
        out.warnings.append(
            f"data.features lists the data.group column {column!r}: the model sees the group "
            "id, which tells it nothing about groups it has not seen"
        )
    test = sources.test
    if test is not None:
        out.groups["test"] = 0
        if column in test.fmt.columns:
            tested = read_groups(test.path, test.fmt, column, data.limit)
            out.groups["test"] = len(set(tested))
            text = overlap_warning(groups[codes != TEST], tested, column, test.path)
            if text is not None:
                out.warnings.append(text)
    return out


def read_groups(path: Path, fmt: CsvFormat, column: str, limit: int | None) -> np.ndarray:
    """The ``column`` cell of every data row of ``path`` (object array of str).

    Raises:
        DataError: ``file:row:col`` of the first empty group cell (a row without a group
            could land next to any group, so it is not guessed into one).
    """
    field = fmt.columns.index(column)
    cells: list[str] = []
    for chunk in iter_chunks(path, fmt, _CHUNK_ROWS, limit):
        for row, line in zip(chunk.rows, chunk.lines, strict=True):
            value = row[field].strip()
            if is_missing(value):
                raise DataError(
                    f"{path}:{line}:{field + 1}: column {column!r} (data.group) is empty; "
                    "every row needs a group: fill the cell or remove the row"
                )
            cells.append(value)
    return np.array(cells, dtype=object)


def cut_groups(
    groups: np.ndarray, seed: int, test: float | None, validation: float | None, column: str
) -> np.ndarray:
    """Split code (TRAIN, VALIDATION, TEST; uint8) of every row, whole groups at a time.

    ``test`` is a share of all rows, ``validation`` a share of the rows the test cut leaves
    (as the row cut has it). Each cut takes at least one group and one is left for training.

    Raises:
        DataError: too few groups for the cuts asked for, saying how many there are.
    """
    names, inverse, counts = np.unique(groups.astype(str), return_inverse=True, return_counts=True)
    cuts = [(code, f) for code, f in ((TEST, test), (VALIDATION, validation)) if f]
    needed = len(cuts) + 1
    if len(names) < needed:
        asked = " and ".join(
            f"{'test' if code == TEST else 'validation'} ({fraction:g})" for code, fraction in cuts
        )
        raise DataError(
            f"column {column!r} has {len(names)} group"
            f"{'' if len(names) == 1 else 's'}; cutting {asked} with whole groups and one left "
            f"for training needs at least {needed}",
            key=("data", "group"),
        )
    order = np.random.default_rng(seed).permutation(len(names))
    codes = np.full(len(names), TRAIN, dtype=np.uint8)
    start, rows = 0, int(counts.sum())
    for position, (code, fraction) in enumerate(cuts):
        goal = fraction * rows
        # Leave one group for each later cut and one for training.
        room = len(names) - (len(cuts) - position)
        taken = 0
        while start < room and (taken == 0 or taken < goal):
            codes[order[start]] = code
            taken += int(counts[order[start]])
            start += 1
        rows -= taken
    out: np.ndarray = codes[inverse.reshape(-1)]
    return out


def groups_per_split(groups: np.ndarray, codes: np.ndarray) -> dict[int, int]:
    """Distinct groups among the rows of each split code present in ``codes``."""
    return {int(c): len(set(groups[codes == c])) for c in np.unique(codes)}


def overlap_warning(
    train: np.ndarray, test: np.ndarray, column: str, test_path: Path
) -> str | None:
    """The warning for groups both in the training file and in ``test_path``, if any are."""
    both = sorted(set(train) & set(test))
    if not both:
        return None
    shown = ", ".join(repr(g) for g in both[:_SHOWN]) + (", ..." if len(both) > _SHOWN else "")
    return (
        f"{test_path}: {len(both)} group{'s' if len(both) > 1 else ''} of data.group {column!r} "
        f"also in the training file ({shown}); the test split does not measure unseen groups"
    )
