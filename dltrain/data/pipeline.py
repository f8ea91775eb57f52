"""tf.data pipelines over in-memory arrays, and the :class:`Datasets` the data stage returns.

Training data is one dataset that runs epochs ``start_epoch .. epochs-1`` back to back; epoch
``e`` is ordered by a stateless shuffle seeded with ``(seed, e)``, so a resumed run sees exactly
the batches the uninterrupted run would have. Examples are gathered a whole batch at a time
from tensors held in memory (images stay uint8 and are scaled inside the batched map).
TensorFlow is imported inside the methods, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, cast

import numpy as np

from dltrain.data.memory import release_freed_memory, shareable
from dltrain.data.spec import DataSpec
from dltrain.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "ArraySource",
    "BatchSize",
    "array_batches",
    "Datasets",
    "evaluation_batch_size",
    "evaluation_indices",
    "plain_function",
    "resolve_batch",
    "train_indices",
]

BatchSize = int | Literal["full"]
_F = TypeVar("_F", bound=Callable[..., Any])


def resolve_batch(batch_size: BatchSize, n: int) -> int:
    """Examples per batch: ``full`` is the whole split; never more than ``n`` (at least 1)."""
    if batch_size == "full":
        return max(n, 1)
    if batch_size < 1:
        raise DataError(f"training.batch_size must be positive; received {batch_size}")
    return max(1, min(int(batch_size), n))


def evaluation_batch_size(batch_size: int, train_size: int, split_size: int | None = None) -> int:
    """Batch size for validation and test passes over a split of ``split_size`` examples.

    Evaluation results do not depend on the batch size (no gradients), so a larger batch is
    used to make it cheaper; ``full`` batches stay full. Where a divisor of the split's size
    lies between half that size and it, the divisor is used: every batch then has the same
    shape, so the step is traced (and, with XLA, compiled) once instead of twice (10,000
    test images: batches of 250 instead of 39 of 256 and one of 16).
    """
    size = max(batch_size, min(256, max(train_size, 1)))
    if split_size is None or split_size <= size or size < 2:
        return size
    divisors = [d for d in range(size, size // 2 - 1, -1) if split_size % d == 0]
    return divisors[0] if divisors else size


def plain_function(fn: _F) -> _F:
    """``fn`` for ``tf.data`` to trace as the Python it is, without AutoGraph's conversion.

    The pipelines' functions branch and loop on Python values only, so the conversion
    (parsing and rewriting their source, and that of what they call) changes nothing but
    costs about 0.1 s per function, before a run's first step (docs/benchmarks.md).
    """
    import tensorflow as tf

    return cast(_F, tf.autograph.experimental.do_not_convert(fn))


class Source(Protocol):
    """Where a :class:`Datasets` gets its pipelines from (in memory or streamed)."""

    def size(self, split: str) -> int: ...

    def train(
        self, batch: int, seed: int, start_epoch: int, epochs: int, shuffle: bool
    ) -> tf.data.Dataset: ...

    def evaluation(self, split: str, batch: int) -> tf.data.Dataset: ...

    def labels(self, split: str) -> list[np.ndarray]: ...


@dataclass
class ArraySource:
    """Splits held as NumPy arrays (x by raw input name; y per target).

    ``scale`` multiplies uint8 inputs after the cast to float32 (1/255 for images);
    ``one_hot`` gives, per target, the depth to one-hot encode stored class indices to
    (``None``: used as stored). ``cast_uint8: False`` hands uint8 inputs to the model as they
    are (image folders: the model's first layer scales them, so exports take raw pixels).
    """

    x: dict[str, dict[str, np.ndarray]]
    y: dict[str, list[np.ndarray]]
    plain: dict[str, list[np.ndarray]]
    scale: float = 1.0
    one_hot: list[int | None] = field(default_factory=list)
    cast_uint8: bool = True
    _tensors: dict[str, Any] = field(default_factory=dict, repr=False)

    def size(self, split: str) -> int:
        """Examples in ``split`` (0 when absent)."""
        return len(self.plain[split][0]) if split in self.plain else 0

    def labels(self, split: str) -> list[np.ndarray]:
        """Plain per-target labels of ``split``."""
        return self.plain[split]

    def _split_tensors(self, split: str) -> tuple[dict[str, Any], list[Any]]:
        if split not in self._tensors:
            # Converted once and shared by every pipeline over this split.
            xs = {k: _tensor(v) for k, v in self.x[split].items()}
            ys = [_tensor(v) for v in self.y[split]]
            self._tensors[split] = (xs, ys)
            # Keep (read-only) NumPy views of the tensors instead of the originals, so a
            # split copied on the way is not held in memory twice.
            self.x[split] = {k: np.asarray(t) for k, t in xs.items()}
            self.y[split] = [np.asarray(t) for t in ys]
            release_freed_memory()  # the originals' pages, unless a caller still holds them
        return self._tensors[split]  # type: ignore[no-any-return]

    def _gather(self, split: str) -> Any:
        import tensorflow as tf

        xs, ys = self._split_tensors(split)
        single_x = len(xs) == 1
        depths = self.one_hot or [None] * len(ys)
        scale = self.scale
        cast_uint8 = self.cast_uint8

        def gather(index: Any) -> tuple[Any, Any]:
            x = {}
            for name, tensor in xs.items():
                part = tf.gather(tensor, index)
                if cast_uint8 and part.dtype == tf.uint8:
                    part = tf.cast(part, tf.float32)
                    if scale != 1.0:
                        part = part * scale
                x[name] = part
            y = []
            for tensor, depth in zip(ys, depths, strict=True):
                part = tf.gather(tensor, index)
                if depth is not None:
                    part = tf.one_hot(tf.cast(part, tf.int32), depth, dtype=tf.float32)
                y.append(part)
            return (
                next(iter(x.values())) if single_x else x,
                y[0] if len(y) == 1 else tuple(y),
            )

        return plain_function(gather)

    def train(
        self, batch: int, seed: int, start_epoch: int, epochs: int, shuffle: bool
    ) -> tf.data.Dataset:
        """Epochs ``start_epoch..epochs-1`` back to back, epoch ``e`` ordered by (seed, e)."""
        import tensorflow as tf

        ds = train_indices(self.size("train"), batch, seed, start_epoch, epochs, shuffle)
        ds = ds.map(self._gather("train"), num_parallel_calls=tf.data.AUTOTUNE)
        return _without_rewrites(ds.prefetch(tf.data.AUTOTUNE))

    def evaluation(self, split: str, batch: int) -> tf.data.Dataset:
        """``split`` in file order, batched, prefetched."""
        import tensorflow as tf

        # Not cached: the split is in memory already, and a cache would hold it a second
        # time (as float32, 4x the size for uint8 images) to save a gather per batch.
        ds = evaluation_indices(self.size(split), batch)
        ds = ds.map(self._gather(split), num_parallel_calls=tf.data.AUTOTUNE)
        return _without_rewrites(ds.prefetch(tf.data.AUTOTUNE))


def train_indices(
    n: int, batch: int, seed: int, start_epoch: int, epochs: int, shuffle: bool
) -> tf.data.Dataset:
    """int64 index batches of epochs ``start_epoch..epochs-1`` of ``n`` training examples.

    Epoch ``e`` is ordered by a stateless shuffle keyed ``(seed, e)`` and ends with its own
    (possibly smaller) last batch. Every source maps these same batches to examples, so an
    in-memory and a streamed run see the same batches, and a resumed run those it would have.
    """
    import tensorflow as tf

    full = n // batch * batch

    def epoch_batches(epoch: Any) -> tf.data.Dataset:
        order = tf.range(n, dtype=tf.int64)
        if shuffle:
            key = tf.stack([tf.constant(seed, tf.int64), epoch])
            order = tf.random.experimental.stateless_shuffle(order, seed=key)
        # Whole batches of indices, not one element at a time and then .batch(): the
        # same batches, without tf.data's per-element cost (about 1 s of CPU per epoch
        # of 60,000 examples, measured on the MLP: docs/benchmarks.md).
        batches = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full], [-1, batch]))
        if full < n:
            batches = batches.concatenate(tf.data.Dataset.from_tensors(order[full:]))
        return batches

    steps = math.ceil(n / batch)
    ds = tf.data.Dataset.range(start_epoch, epochs).flat_map(plain_function(epoch_batches))
    return ds.apply(tf.data.experimental.assert_cardinality(max(epochs - start_epoch, 0) * steps))


def evaluation_indices(n: int, batch: int) -> tf.data.Dataset:
    """int64 index batches of ``n`` examples in order: ``[0..batch)``, ``[batch..2 batch)``..."""
    import tensorflow as tf

    starts = tf.data.Dataset.range(0, n, batch)
    return starts.map(plain_function(lambda start: tf.range(start, tf.minimum(start + batch, n))))


def array_batches(x: Any, n: int, batch: int) -> tf.data.Dataset:
    """The ``n`` rows of ``x`` (an array, or a dict of arrays) in order, in batches of
    ``batch``: each batch a slice of tensors that share the arrays' buffers (numbers; strings
    are converted once), not ``n`` elements batched one at a time (tf.data's per-element cost,
    as :func:`train_indices` says)."""
    import tensorflow as tf

    tensors = tf.nest.map_structure(_tensor, x)

    def rows(start: Any) -> Any:
        return tf.nest.map_structure(lambda t: t[start : start + batch], tensors)

    ds = tf.data.Dataset.range(0, n, batch).map(
        plain_function(rows), num_parallel_calls=tf.data.AUTOTUNE
    )
    return _without_rewrites(ds.prefetch(tf.data.AUTOTUNE))


def _tensor(array: np.ndarray) -> tf.Tensor:
    """``array`` as a tensor: sharing its buffer (DLPack) when TensorFlow can hold it in
    place, else copied once into one it can (never the two copies ``convert_to_tensor``
    makes); strings are converted."""
    import tensorflow as tf

    shared = shareable(array)
    if shared is None:
        return tf.convert_to_tensor(array)
    tensor = tf.experimental.dlpack.from_dlpack(shared.__dlpack__())
    # TensorFlow reads this buffer from now on: a later write through the array (a plugin
    # dataset keeping its own) would change the training data, so it fails instead.
    shared.flags.writeable = False
    return tensor


def _without_rewrites(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` without tf.data's default static optimizations.

    They rewrite the dataset's graph when an iterator is made, and the rewrite copies every
    tensor the map functions capture: the whole split, once more per pipeline. These
    pipelines parallelize and prefetch explicitly, so the rewrites gain nothing here
    (docs/benchmarks.md, memory); autotuning stays on.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return ds.with_options(options)


@dataclass
class Datasets:
    """The data of one experiment: spec, split sizes, fingerprint, and tf.data pipelines."""

    spec: DataSpec
    train_size: int
    validation_size: int
    test_size: int
    fingerprint: dict[str, Any]
    batch_size: int
    """``training.batch_size`` resolved to a number (``full``: the training set size)."""
    warnings: list[str] = field(default_factory=list)
    """Things the user should know (constant columns, dropped rows); never printed here."""
    source: Source | None = field(default=None, repr=False)
    validation_split: str | None = "validation"
    """Which stored split serves as validation data (``test`` for ``validation: test``)."""
    summary: list[str] = field(default_factory=list)
    """What ``dltrain check`` shows about the data (files per split and class, sizes seen)."""

    def _source(self) -> Source:
        if self.source is None:
            raise DataError("these Datasets carry no data (built from a description only)")
        return self.source

    def train_dataset(
        self,
        batch_size: BatchSize,
        *,
        seed: int,
        start_epoch: int = 0,
        epochs: int,
        shuffle: bool = True,
    ) -> tuple[tf.data.Dataset, int]:
        """One dataset covering epochs ``start_epoch .. epochs-1``, and ``steps_per_epoch``.

        Pass both to ``model.fit(ds, epochs=epochs, initial_epoch=start_epoch,
        steps_per_epoch=steps)``: Keras keeps one iterator across epochs when
        ``steps_per_epoch`` is given, so epoch ``e`` gets the order seeded by ``(seed, e)``.
        Each epoch ends with its own (possibly smaller) last batch.
        """
        batch = resolve_batch(batch_size, self.train_size)
        ds = self._source().train(batch, seed, start_epoch, epochs, shuffle)
        return ds, math.ceil(self.train_size / batch)

    def validation_dataset(self, batch_size: BatchSize) -> tf.data.Dataset | None:
        """Validation data in file order, or ``None`` when the config asks for none."""
        if self.validation_split is None or not self.validation_size:
            return None
        batch = resolve_batch(batch_size, self.validation_size)
        return self._source().evaluation(self.validation_split, batch)

    def evaluation_batch(self, split: str) -> int:
        """The batch size of validation and test passes over ``split``
        (:func:`evaluation_batch_size`): larger than training's, and the same shape every
        batch where a divisor of the split's size allows."""
        size = {"train": self.train_size, "validation": self.validation_size}.get(
            split, self.test_size
        )
        return evaluation_batch_size(self.batch_size, self.train_size, size)

    def test_dataset(self, batch_size: BatchSize) -> tf.data.Dataset:
        """Test data in file order."""
        return self._source().evaluation("test", resolve_batch(batch_size, self.test_size))

    def train_class_counts(self) -> dict[int, int]:
        """Examples per class index in the training split, for the (single) target.

        What ``training.class_weight: balanced`` weighs by; for a classification target.
        """
        target = self.spec.targets[0]
        labels = np.asarray(self._source().labels("train")[0]).reshape(-1)
        classes = max(len(target.class_names or []), 2)
        counts = np.bincount(labels.astype(np.int64), minlength=classes)
        return {index: int(count) for index, count in enumerate(counts)}

    def test_targets(self) -> list[np.ndarray]:
        """Test labels per target, in order: class indices (even when one-hot) or floats."""
        return self._source().labels("test")

    def split_targets(self, split: str) -> list[np.ndarray]:
        """Labels per target of ``train``, ``validation`` (the stored split serving as it) or
        ``test``, in the order their evaluation pipelines give the examples."""
        stored = self.validation_split if split == "validation" else split
        if stored is None:
            raise DataError("this run has no validation split")
        return self._source().labels(stored)
