"""Which CSV files a config reads, their layout, and the column plan for each (no TensorFlow).

Shared by the in-memory and the streaming loaders so both split, check and encode alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dltrain.config.schema import CsvData
from dltrain.data.config_keys import about
from dltrain.data.csv.arrow import FastPathFailed, fast_chunks
from dltrain.data.csv.columns import ColumnPlan, TextInNumbers, check_classes, plan_columns
from dltrain.data.csv.kinds import find_text_columns, text_columns_error
from dltrain.data.csv.reader import CsvFormat, detect_format, iter_chunks
from dltrain.data.csv.stats import TEST, split_codes
from dltrain.data.csv.tabular import PreparedChunk, apply_missing, prepare_chunk
from dltrain.data.spec import TargetInfo
from dltrain.errors import DataError

__all__ = ["CsvFile", "CsvSources", "resolve_sources", "target_infos"]


@dataclass(frozen=True)
class CsvFile:
    """One CSV file with its layout and column plan; ``all_test``: every row is test data."""

    path: Path
    fmt: CsvFormat
    plan: ColumnPlan
    test_fraction: float | None = None
    """Share of rows the seeded split puts in the test split."""
    all_test: bool = False
    skip_test: bool = False
    """Rows the seeded split puts in the test split are left out (a separate test file
    replaces them)."""
    row_codes: np.ndarray | None = field(default=None, repr=False, compare=False)
    """With ``data.group``: the split of every data row, cut by whole groups beforehand."""

    def chunks(
        self,
        data: CsvData,
        seed: int,
        chunk_rows: int,
        *,
        with_targets: bool = True,
        fast: bool = True,
    ) -> Iterator[PreparedChunk]:
        """PreparedChunk chunks of ``chunk_rows`` rows, each row tagged with its split.

        Parsed by pyarrow (``fast``) until it meets something it cannot vouch for; the careful
        row-by-row reader then takes over from that chunk on, and names the bad cell.
        """
        done = 0
        if fast:
            try:
                for parsed in fast_chunks(
                    self.path,
                    self.fmt,
                    self.plan,
                    chunk_rows,
                    data.limit,
                    with_targets=with_targets,
                ):
                    prepared = PreparedChunk(
                        self.split_codes(parsed.start, len(parsed), seed, data),
                        parsed.numeric,
                        parsed.categorical,
                        parsed.targets,
                        parsed.text,
                    )
                    if parsed.excluded is not None and parsed.excluded.any():
                        prepared = prepared.select(~parsed.excluded)
                        prepared.excluded = int(parsed.excluded.sum())
                    prepared = apply_missing(
                        prepared, data, _cannot_locate(parsed.start), self.plan
                    )
                    yield self._finish(prepared)
                return
            except FastPathFailed as failed:
                done = failed.start
        for chunk in iter_chunks(self.path, self.fmt, chunk_rows, data.limit):
            if chunk.start < done:
                continue
            codes = self.split_codes(chunk.start, len(chunk.rows), seed, data)
            try:
                prepared = prepare_chunk(
                    chunk, self.plan, data, self.path, codes, with_targets=with_targets
                )
            except TextInNumbers as err:
                raise self._text_error(err, data) from None
            yield self._finish(prepared)

    def _text_error(self, err: TextInNumbers, data: CsvData) -> DataError:
        """Text in a numeric feature: every such column of the file in one error."""
        if err.comma or err.column not in self.plan.numeric:
            return err
        numeric = [err.column] + [c for c in self.plan.numeric if c != err.column]
        found = find_text_columns(self.path, self.fmt, numeric, data.limit)
        return text_columns_error(found) if err.column in found else err

    def split_codes(self, start: int, n: int, seed: int, data: CsvData) -> np.ndarray:
        """Splits of data rows ``start .. start+n-1`` of this file."""
        if self.all_test:
            return np.full(n, TEST, dtype=np.uint8)
        if self.row_codes is not None:
            return self.row_codes[start : start + n]
        return split_codes(start, n, seed, self.test_fraction, data.validation)

    def _finish(self, prepared: PreparedChunk) -> PreparedChunk:
        if self.skip_test:
            prepared = prepared.select(prepared.codes != TEST)
        return prepared


def _cannot_locate(start: int) -> Callable[[], DataError | None]:
    def locate() -> DataError | None:
        raise FastPathFailed(start, "an empty cell under missing: error")

    return locate


@dataclass
class CsvSources:
    """The files of a CSV config: the main one (``path``/``train_path``) and maybe a test one."""

    main: CsvFile
    test: CsvFile | None = None
    files: list[Path] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)
    """With ``data.group``: distinct groups per split name."""
    warnings: list[str] = field(default_factory=list)
    inferred: tuple[str, ...] | None = None
    """With ``categorical: auto``: the feature columns found to hold text, in order."""

    def fingerprint(self) -> dict[str, list[str]]:
        """What ``categorical: auto`` decided, for run.json (empty without ``auto``)."""
        if self.inferred is None:
            return {}
        return {"categorical_inferred": list(self.inferred)}

    def summary(self) -> list[str]:
        """The feature columns by kind, for ``dltrain check`` (only with ``auto``)."""
        if self.inferred is None:
            return []
        plan = self.main.plan
        numeric = ", ".join(plan.numeric) or "none"
        categorical = ", ".join(self.inferred) or "none"
        return [f"columns: numeric {numeric}; categorical (inferred) {categorical}"]

    @property
    def all(self) -> list[CsvFile]:
        """Every file, main first."""
        return [self.main] + ([self.test] if self.test else [])


def rebind(plan: ColumnPlan, columns: tuple[str, ...], path: Path, targets: bool) -> ColumnPlan:
    """``plan`` for another file with the same columns (perhaps in another order).

    Raises:
        DataError: the file lacks a used column (targets only when ``targets``).
    """
    from dltrain.utils.keys import did_you_mean

    needed = plan.features + (list(plan.targets) if targets else [])
    for name in needed:
        if name not in columns:
            raise DataError(
                f"{path}: no column {name!r}{did_you_mean(name, columns)}; the training data "
                f"has it (this file has {', '.join(columns)})"
            )
    return replace(plan, columns=columns)


def resolve_sources(data: CsvData, test_path: Path | None = None) -> CsvSources:
    """Files, layouts and plans for a CSV config; ``test_path`` replaces the test split.

    Raises:
        DataError: a missing or malformed file, or columns that do not fit the config.
    """
    main_path = Path(data.path or data.train_path or "")
    with about(("data", "path" if data.path else "train_path")):
        fmt = detect_format(main_path, data.delimiter, data.header, data.decimal)
    plan = plan_columns(data, fmt.columns, main_path)
    inferred: tuple[str, ...] | None = None
    if data.categorical == "auto":
        inferred = tuple(find_text_columns(main_path, fmt, plan.numeric, data.limit))
        plan = plan_columns(data, fmt.columns, main_path, frozenset(inferred))
    other = (
        test_path
        if test_path is not None
        else (Path(data.test_path) if data.test_path and data.train_path else None)
    )
    # With a single file the test rows are cut from it; when another file replaces them (eval
    # --data), the cut stays so the training and validation rows are exactly those trained on.
    cut = data.test if data.path else (None if data.test_path else data.test)
    main = CsvFile(main_path, fmt, plan, cut, skip_test=other is not None and bool(cut))
    if other is None:
        if not data.test:
            raise DataError("data: no test split: give data.test (a fraction) or data.test_path")
        return CsvSources(main, None, [main_path], inferred=inferred)
    # A --data file given on the command line is not a config value.
    with about(("data", "test_path") if test_path is None else None):
        test_fmt = detect_format(
            other,
            data.delimiter,
            data.header if data.header is not None else fmt.header,
            data.decimal or fmt.decimal,
        )
        test_plan = rebind(plan, test_fmt.columns, other, True)
    test = CsvFile(other, test_fmt, test_plan, all_test=True)
    return CsvSources(main, test, [main_path, other], inferred=inferred)


def target_infos(
    plan: ColumnPlan, data: CsvData, classes: dict[str, set[str]], path: Path
) -> list[TargetInfo]:
    """One :class:`TargetInfo` per target; class names are every label seen in any split."""
    infos = []
    for target in plan.targets:
        task = plan.tasks[target]
        if task == "regression":
            infos.append(TargetInfo(target, task))
            continue
        names = check_classes(target, task, classes[target], path)
        infos.append(
            TargetInfo(
                target,
                task,
                num_classes=len(names),
                class_names=names,
                one_hot=data.one_hot and task == "multiclass",
            )
        )
    return infos
