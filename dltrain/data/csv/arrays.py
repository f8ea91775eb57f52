"""In-memory data of one split, and loading a CSV config into memory (no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dltrain.config.schema import CsvData
from dltrain.data.csv.groups import group_sources
from dltrain.data.csv.layout import CsvSources, target_infos
from dltrain.data.csv.scaling import check_log_targets, scaled_targets
from dltrain.data.csv.split_store import SplitStore, row_capacity
from dltrain.data.csv.stats import TEST, TRAIN, VALIDATION, StatsAccumulator, TabularStats
from dltrain.data.csv.summary import (
    CsvSummary,
    FileCounts,
    column_kinds,
    split_summary,
    text_lines,
)
from dltrain.data.csv.tabular import (
    PreparedChunk,
    assemble,
    check_present,
    encode_targets,
    tabular_spec,
)
from dltrain.data.memory import release_freed_memory
from dltrain.data.spec import DataSpec
from dltrain.errors import DataError

__all__ = ["LoadedArrays", "SplitArrays", "load_csv_arrays", "merge_prepared"]

SPLIT_NAMES = {TRAIN: "train", VALIDATION: "validation", TEST: "test"}


@dataclass
class SplitArrays:
    """One split: raw inputs by name, model targets, and plain labels per target."""

    x: dict[str, np.ndarray]
    y: list[np.ndarray]
    labels: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.labels[0]) if self.labels else len(next(iter(self.x.values())))


@dataclass
class LoadedArrays:
    """Everything a CSV config yields in memory."""

    spec: DataSpec
    splits: dict[str, SplitArrays]
    stats: TabularStats
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)
    """With ``data.group``: distinct groups per split."""
    summary: CsvSummary | None = None


def merge_prepared(parts: list[PreparedChunk]) -> PreparedChunk:
    """Concatenate prepared chunks (the ``present`` counts and ``dropped`` are summed)."""
    first = parts[0]
    out = PreparedChunk(
        np.concatenate([p.codes for p in parts]),
        {k: np.concatenate([p.numeric[k] for p in parts]) for k in first.numeric},
        {k: np.concatenate([p.categorical[k] for p in parts]) for k in first.categorical},
        {k: np.concatenate([p.targets[k] for p in parts]) for k in first.targets},
        {k: np.concatenate([p.text[k] for p in parts]) for k in first.text},
    )
    for p in parts:
        for column, count in p.present.items():
            out.present[column] = out.present.get(column, 0) + count
        out.dropped += p.dropped
        out.excluded += p.excluded
    return out


def class_sets(parts: list[PreparedChunk], targets: list[str]) -> dict[str, set[str]]:
    """Every non-empty label of each classification target."""
    out: dict[str, set[str]] = {t: set() for t in targets}
    for prepared in parts:
        for target, values in prepared.targets.items():
            if values.dtype == object:
                out[target].update(values)
    for labels in out.values():
        labels.discard("")
    return out


def drop_warning(dropped: int, path: Path, data: CsvData) -> str | None:
    """The warning for rows left out because of empty cells, if any were."""
    if not dropped:
        return None
    why = "an empty cell" if data.missing == "drop" else "an empty target"
    return f"{path}: {dropped} row{'s' if dropped > 1 else ''} with {why} left out"


def fill_warning(filled: dict[str, int], path: Path, data: CsvData) -> str | None:
    """The note for empty cells ``missing: mean`` filled, counted per column, if any were."""
    if data.missing != "mean" or not filled:
        return None
    counts = ", ".join(f"{column} {count}" for column, count in filled.items())
    total = sum(filled.values())
    return (
        f"{path}: {total} empty cell{'s' if total > 1 else ''} filled with the training mean "
        f"(numeric) or most frequent value (categorical): {counts}"
    )


def check_split_sizes(sizes: dict[str, int], data: CsvData) -> None:
    """Empty training, test, or (when asked for) validation split: an error that says why.

    Raises:
        DataError: naming the empty split and the fractions in use.
    """
    wanted = ["train", "test"] + (["validation"] if data.validation else [])
    for name in wanted:
        if sizes.get(name, 0) == 0:
            raise DataError(
                f"data: the {name} split is empty ({sizes.get('rows', 0)} usable rows, test "
                f"{data.test}, validation {data.validation}); use more rows, other fractions, "
                "or data.missing: mean instead of drop"
            )


def _capacity(sources: CsvSources, data: CsvData, seed: int) -> dict[int, int]:
    """Room for the rows of each split: as if the files held :func:`row_capacity` rows."""
    capacity = dict.fromkeys(SPLIT_NAMES, 0)
    for source in sources.all:
        bound = row_capacity(source.path)
        codes = source.split_codes(0, min(bound, data.limit or bound), seed, data)
        if source.skip_test:
            codes = codes[codes != TEST]
        for code, count in enumerate(np.bincount(codes, minlength=len(SPLIT_NAMES))):
            capacity[code] += int(count)
    return capacity


def load_csv_arrays(data: CsvData, sources: CsvSources, seed: int) -> LoadedArrays:
    """Read every file into memory, split, compute training statistics, encode.

    Raises:
        DataError: any problem in the files (located), or an empty split.
    """
    sources = group_sources(data, sources, seed)
    # Chunk by chunk straight into the splits: only one chunk's text is held at a time, and
    # no second copy of the file's rows.
    store = SplitStore(_capacity(sources, data, seed))
    plan = sources.main.plan
    acc = StatsAccumulator(
        plan.numeric, [c for c in plan.features if c in plan.categorical], plan.scaling
    )
    warnings: list[str] = list(sources.warnings)
    counts: list[FileCounts] = []
    for source in sources.all:
        present: dict[str, int] = {}
        filled: dict[str, int] = {}
        rows = dropped = excluded = 0
        for prepared in source.chunks(data, seed, data.chunk_rows):
            check_log_targets(prepared, source, data, seed)
            for column, count in prepared.present.items():
                present[column] = present.get(column, 0) + count
            for column, count in prepared.empty_features().items():
                filled[column] = filled.get(column, 0) + count
            rows += len(prepared) + prepared.dropped
            dropped += prepared.dropped
            excluded += prepared.excluded
            # Statistics from the float64 values, chunk by chunk, as the stream loader does.
            train = prepared.select(prepared.codes == TRAIN)
            acc.update(train.numeric, train.categorical, train.targets)
            store.add(prepared)
        counts.append(
            FileCounts(
                str(source.path),
                rows + excluded,
                excluded,
                dropped,
                {c: rows - n for c, n in present.items()},
            )
        )
        if source is sources.main:
            check_present(present, rows, source.plan, source.path)
        if (text := drop_warning(dropped, source.path, data)) is not None:
            warnings.append(text)
        # Numeric columns first, then categorical ones, as the merged columns list them.
        order = sorted(source.plan.features, key=lambda c: c in source.plan.categorical)
        filled = {c: filled[c] for c in order if c in filled}
        if (text := fill_warning(filled, source.path, data)) is not None:
            warnings.append(text)
    by_split = {name: store.take(code) for code, name in SPLIT_NAMES.items()}
    del store
    infos = target_infos(
        plan, data, class_sets(list(by_split.values()), list(plan.targets)), sources.main.path
    )
    sizes = {name: len(p) for name, p in by_split.items()}
    check_split_sizes(sizes | {"rows": sum(sizes.values())}, data)
    stats, stat_warnings = acc.finish()
    warnings += stat_warnings
    infos = scaled_targets(infos, stats)
    if plan.text:
        from dltrain.data.csv.text import adapt_text

        train_rows = by_split["train"]
        stats.text = {c: adapt_text(o, train_rows.text[c]) for c, o in plan.text.items()}
    splits = {}
    for name in list(by_split):
        # Each split's columns are freed as soon as its model-ready arrays exist.
        prepared = by_split.pop(name)
        if len(prepared) or name != "validation":
            ys, labels = encode_targets(prepared, plan, infos)
            x = assemble(prepared, plan, stats, consume=True)
            splits[name] = SplitArrays(x, ys, labels)
        del prepared
    spec = tabular_spec(plan, stats, infos, data.missing)
    summary = CsvSummary(
        counts,
        column_kinds(plan),
        sources.inferred is not None,
        {
            name: split_summary(split.labels, infos, sources.groups.get(name))
            for name, split in splits.items()
        },
        text_lines(stats.text),
    )
    # The parsed chunks and the per-column split arrays are freed by now: give their heap
    # pages back, or the process stays as large as at its busiest (docs/benchmarks.md).
    release_freed_memory()
    return LoadedArrays(spec, splits, stats, warnings, sources.files, sources.groups, summary)
