"""``stream: true``: CSV data read chunk by chunk, never held in memory as a whole.

One pass computes the training statistics, vocabularies, classes and split sizes; every epoch
then re-reads the file through a Python generator. Rows are assigned to splits by a seeded
hash of their index (see :func:`dltrain.data.csv.stats.split_codes`), exactly as the in-memory
loader does, and the training order comes from a shuffle buffer of :data:`SHUFFLE_CHUNKS`
chunks of ``chunk_rows`` rows, drawn with a generator seeded by ``(seed, epoch)``, so rows of
neighbouring chunks mix and a resumed run repeats the original order. Memory stays flat as
the file grows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.config.schema import CsvData, ExperimentConfig
from dltrain.data.csv.arrays import (
    SPLIT_NAMES,
    check_split_sizes,
    class_sets,
    drop_warning,
    fill_warning,
)
from dltrain.data.csv.layout import CsvFile, CsvSources, resolve_sources, target_infos
from dltrain.data.csv.scaling import check_log_targets, scaled_targets
from dltrain.data.csv.stats import TEST, TRAIN, StatsAccumulator, TabularStats
from dltrain.data.csv.tabular import assemble, check_present, encode_targets
from dltrain.data.fingerprint import file_fingerprint
from dltrain.data.pipeline import Datasets, resolve_batch
from dltrain.data.spec import DataSpec, TargetInfo

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["SHUFFLE_CHUNKS", "StreamSource", "load_stream"]

_CODES = {name: code for code, name in SPLIT_NAMES.items()}

Batch = tuple[dict[str, np.ndarray], list[np.ndarray]]

SHUFFLE_CHUNKS = 4
"""Chunks of ``data.chunk_rows`` rows the streaming shuffle buffer holds: rows mix across
this many neighbouring chunks (memory stays flat: a few chunks, whatever the file size)."""


@dataclass
class StreamSource:
    """Pipelines that re-read the CSV file(s) for every pass."""

    data: CsvData
    sources: CsvSources
    seed: int
    stats: TabularStats
    spec: DataSpec
    sizes: dict[str, int]

    def size(self, split: str) -> int:
        """Rows in ``split``."""
        return self.sizes.get(split, 0)

    def _files(self, code: int) -> list[CsvFile]:
        if code == TEST and self.sources.test is not None:
            return [self.sources.test]
        return [self.sources.main]

    def _chunks(self, code: int) -> Iterator[Batch]:
        """(x, y) of the rows of one split, chunk by chunk, in file order."""
        plan = self.sources.main.plan
        for source in self._files(code):
            for prepared in source.chunks(self.data, self.seed, self.data.chunk_rows):
                part = prepared.select(prepared.codes == code)
                if len(part):
                    ys, _ = encode_targets(part, plan, self.spec.targets)
                    yield assemble(part, plan, self.stats), ys

    def _shuffled(self, code: int, epoch: int) -> Iterator[Batch]:
        """The rows of a split through a seeded shuffle buffer spanning several chunks.

        The buffer holds up to ``SHUFFLE_CHUNKS`` chunks of rows; for every chunk read, as
        many rows as it brought leave the buffer, drawn at random from all it holds, so rows
        of neighbouring chunks mix. One generator seeded by ``(seed, epoch)`` draws every
        permutation, so an epoch's order depends on nothing else (exact resume).
        """
        rng = np.random.default_rng([self.seed, epoch])
        room = SHUFFLE_CHUNKS * self.data.chunk_rows
        pool: Batch | None = None
        for x, ys in self._chunks(code):
            pool = (x, ys) if pool is None else _concat(pool, (x, ys))
            n = len(pool[1][0])
            if n <= room:
                continue
            order = rng.permutation(n)
            yield _take(pool, order[: n - room])
            pool = _take(pool, order[n - room :])
        if pool is not None:
            yield _take(pool, rng.permutation(len(pool[1][0])))

    def _batches(self, code: int, batch: int, epoch: int | None) -> Iterator[Any]:
        carry: Batch | None = None
        pieces = self._chunks(code) if epoch is None else self._shuffled(code, epoch)
        for piece in pieces:
            x, ys = piece if carry is None else _concat(carry, piece)
            n = len(ys[0])
            full = n - n % batch
            for start in range(0, full, batch):
                yield self._structure(x, ys, slice(start, start + batch))
            carry = (
                ({k: v[full:] for k, v in x.items()}, [y[full:] for y in ys]) if full < n else None
            )
        if carry is not None:
            yield self._structure(*carry, slice(None))

    def _structure(self, x: dict[str, np.ndarray], ys: list[np.ndarray], part: slice) -> Any:
        xs = {k: v[part] for k, v in x.items()}
        y = [v[part] for v in ys]
        return (
            next(iter(xs.values())) if len(xs) == 1 else xs,
            y[0] if len(y) == 1 else tuple(y),
        )

    def _signature(self) -> Any:
        import tensorflow as tf

        xs = {
            i.name: tf.TensorSpec(
                (None, *i.shape), tf.string if i.dtype == "string" else tf.float32
            )
            for i in self.spec.raw_inputs
        }
        ys = [_target_signature(t) for t in self.spec.targets]
        return (
            next(iter(xs.values())) if len(xs) == 1 else xs,
            ys[0] if len(ys) == 1 else tuple(ys),
        )

    def train(
        self, batch: int, seed: int, start_epoch: int, epochs: int, shuffle: bool
    ) -> tf.data.Dataset:
        """Epochs ``start_epoch..epochs-1`` back to back (``seed`` is the config's)."""
        import tensorflow as tf

        def every_epoch() -> Iterator[Any]:
            for epoch in range(start_epoch, epochs):
                yield from self._batches(TRAIN, batch, epoch if shuffle else None)

        steps = math.ceil(self.size("train") / batch) * max(epochs - start_epoch, 0)
        ds = tf.data.Dataset.from_generator(every_epoch, output_signature=self._signature())
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
        return ds.prefetch(tf.data.AUTOTUNE)

    def evaluation(self, split: str, batch: int) -> tf.data.Dataset:
        """``split`` in file order, batched, re-read on every pass."""
        import tensorflow as tf

        code = _CODES[split]
        steps = math.ceil(self.size(split) / batch)
        ds = tf.data.Dataset.from_generator(
            lambda: self._batches(code, batch, None), output_signature=self._signature()
        )
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
        return ds.prefetch(tf.data.AUTOTUNE)

    def labels(self, split: str) -> list[np.ndarray]:
        """Plain per-target labels of ``split`` (one pass over the file)."""
        code = _CODES[split]
        plan = self.sources.main.plan
        parts: list[list[np.ndarray]] = []
        for source in self._files(code):
            for prepared in source.chunks(self.data, self.seed, self.data.chunk_rows):
                part = prepared.select(prepared.codes == code)
                parts.append(encode_targets(part, plan, self.spec.targets)[1])
        return [np.concatenate([p[i] for p in parts]) for i in range(len(self.spec.targets))]


def _concat(first: Batch, second: Batch) -> Batch:
    x = {k: np.concatenate([v, second[0][k]]) for k, v in first[0].items()}
    return x, [np.concatenate([a, b]) for a, b in zip(first[1], second[1], strict=True)]


def _take(rows: Batch, index: np.ndarray) -> Batch:
    return {k: v[index] for k, v in rows[0].items()}, [y[index] for y in rows[1]]


def _target_signature(target: TargetInfo) -> Any:
    import tensorflow as tf

    if target.task == "multiclass":
        if target.one_hot:
            return tf.TensorSpec((None, target.units), tf.float32)
        return tf.TensorSpec((None,), tf.int32)
    return tf.TensorSpec((None, 1), tf.float32)


def scan(
    data: CsvData, sources: CsvSources, seed: int
) -> tuple[
    TabularStats, list[TargetInfo], dict[str, int], dict[str, dict[str, Counter[str]]], list[str]
]:
    """One streaming pass: statistics, targets, split sizes, label counts, warnings.

    Raises:
        DataError: any problem in the files (located), or an empty split.
    """
    plan = sources.main.plan
    acc = StatsAccumulator(
        plan.numeric, [c for c in plan.features if c in plan.categorical], plan.scaling
    )
    classes: dict[str, set[str]] = {t: set() for t in plan.targets}
    sizes = {name: 0 for name in _CODES}
    labels: dict[str, dict[str, Counter[str]]] = {n: {} for n in _CODES}
    warnings: list[str] = []
    for source in sources.all:
        present: dict[str, int] = {}
        filled: Counter[str] = Counter()
        rows = dropped = 0
        for prepared in source.chunks(data, seed, data.chunk_rows):
            check_log_targets(prepared, source, data, seed)
            for column, count in prepared.present.items():
                present[column] = present.get(column, 0) + count
            rows += len(prepared) + prepared.dropped
            dropped += prepared.dropped
            filled.update(prepared.empty_features())
            train = prepared.select(prepared.codes == TRAIN)
            acc.update(train.numeric, train.categorical, train.targets)
            for name, seen in class_sets([prepared], list(plan.targets)).items():
                classes[name] |= seen
            for code, split in SPLIT_NAMES.items():
                part = prepared.select(prepared.codes == code)
                sizes[split] += len(part)
                for target, values in part.targets.items():
                    if values.dtype == object:
                        labels[split].setdefault(target, Counter()).update(values.tolist())
        if source is sources.main:
            check_present(present, rows, plan, source.path)
        if (text := drop_warning(dropped, source.path, data)) is not None:
            warnings.append(text)
        if (text := fill_warning(dict(filled), source.path, data)) is not None:
            warnings.append(text)
    check_split_sizes(sizes | {"rows": sum(sizes.values())}, data)
    stats, stat_warnings = acc.finish()
    infos = scaled_targets(target_infos(plan, data, classes, sources.main.path), stats)
    return stats, infos, sizes, labels, warnings + stat_warnings


def load_stream(data: CsvData, config: ExperimentConfig, test_path: Path | None) -> Datasets:
    """:class:`Datasets` over streamed CSV data (see the module docstring)."""
    from dltrain.data.csv.tabular import tabular_spec

    sources = resolve_sources(data, test_path)
    stats, infos, sizes, labels, warnings = scan(data, sources, config.seed)
    spec = tabular_spec(sources.main.plan, stats, infos, data.missing)
    splits: dict[str, Any] = {}
    for split, n in sizes.items():
        if n or split != "validation":
            entry: dict[str, Any] = {
                "examples": n,
                "shapes": {i.name: [n, *i.shape] for i in spec.raw_inputs},
            }
            counts = {
                t.name: {c: labels[split].get(t.name, Counter())[c] for c in t.class_names}
                for t in infos
                if t.class_names
            }
            if counts:
                entry["class_counts"] = counts
            splits[split] = entry
    source = StreamSource(data, sources, config.seed, stats, spec, sizes)
    has_validation = sizes["validation"] > 0
    return Datasets(
        spec=spec,
        train_size=sizes["train"],
        validation_size=sizes["validation"],
        test_size=sizes["test"],
        fingerprint={
            "kind": "csv",
            "stream": True,
            "files": [file_fingerprint(p) for p in sources.files],
            "splits": splits,
            **sources.fingerprint(),
        },
        batch_size=resolve_batch(config.training.batch_size, sizes["train"]),
        warnings=warnings,
        source=source,
        validation_split="validation" if has_validation else None,
        summary=sources.summary(),
    )
