"""``data.stream``: image and audio folders decoded batch by batch while training.

A folder whose decoded splits fit in memory is decoded once (:class:`ArraySource`); a larger
one is served by :class:`FileSource`, which holds only file paths and labels. Its batches are
the same index batches as the in-memory source's (:func:`train_indices`: a stateless shuffle
keyed by ``(seed, epoch)``), each decoded when the pipeline reaches it by the kind's own
parallel decoder, so a streamed run sees the same pixels in the same batches as an in-memory
one, and a resumed run the batches it would have seen.

Memory is bounded by ``(PREFETCH + PARALLEL_BATCHES + 1) x batch x decoded example`` bytes
(the batches waiting, the ones being decoded, and the one training), whatever the number of
files. Before training, :func:`check_files` decodes every file once, chunk by chunk, and
drops the pixels, so bad files are found up front exactly as in memory.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dltrain.config.schema import FolderData
from dltrain.data.folders.decoded import Decoded
from dltrain.data.pipeline import evaluation_indices, plain_function, train_indices
from dltrain.data.spec import InputInfo
from dltrain.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

GraphDecode = Callable[[Any], Any]
"""A decoder inside the ``tf.data`` graph: a string tensor of file paths -> a batch tensor."""

__all__ = [
    "CHECK_BYTES",
    "GraphDecode",
    "PARALLEL_BATCHES",
    "PREFETCH",
    "FileSource",
    "check_files",
    "decoded_bytes",
    "memory_bound",
    "streams",
]

PREFETCH = 2
"""Decoded batches waiting for the model: enough to hide one slow batch, and a fixed number,
so memory does not grow with tf.data's autotuning."""
PARALLEL_BATCHES = 2
"""Batches decoded at once; each is decoded by up to 8 threads already
(:func:`~dltrain.data.folders.decoded.default_workers`)."""
CHECK_BYTES = 64 << 20
"""Decoded bytes per chunk of the check pass (at least one file a chunk)."""


def memory_bound() -> int:
    """A quarter of the machine's physical memory, in bytes: ``auto`` streams above it."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def decoded_bytes(info: InputInfo, files: int) -> int:
    """What ``files`` decoded examples of ``info`` take in memory."""
    return files * math.prod(_shape(info)) * np.dtype(info.dtype).itemsize


def _shape(info: InputInfo) -> tuple[int, ...]:
    """A folder input's shape: always fully known (image size, samples)."""
    return tuple(int(d or 0) for d in info.shape)


def streams(data: FolderData, info: InputInfo, files: int) -> bool:
    """Whether ``data.stream`` streams a folder of ``files`` files decoding to ``info``."""
    if data.stream == "auto":
        return decoded_bytes(info, files) > memory_bound()
    return bool(data.stream)


def check_files(
    decode: Callable[[Sequence[Path]], Decoded], info: InputInfo, paths: Sequence[Path]
) -> Decoded:
    """Decode every file chunk by chunk and keep what :func:`load_folder` needs, not pixels.

    Returns:
        A :class:`Decoded` whose ``kept``, ``bad`` and ``seen`` are those of decoding all the
        files at once, and whose ``array`` has no rows.
    """
    chunk = max(1, CHECK_BYTES // max(decoded_bytes(info, 1), 1))
    kept: list[np.ndarray] = []
    bad: list[tuple[Path, str]] = []
    seen: dict[str, Counter[str]] = {}
    for start in range(0, len(paths), chunk):
        part = decode(paths[start : start + chunk])
        kept.append(part.kept + start)
        bad.extend(part.bad)
        for fact, counts in part.seen.items():
            seen.setdefault(fact, Counter()).update(counts)
    empty = np.empty((0, *_shape(info)), dtype=info.dtype)
    indices = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
    return Decoded(empty, indices.astype(np.int64), bad, seen)


@dataclass
class FileSource:
    """Splits held as file paths and labels, decoded a batch at a time while training.

    ``one_hot``: the depth to one-hot encode the class indices to (``None``: as stored).
    """

    paths: dict[str, list[Path]]
    plain: dict[str, list[np.ndarray]]
    decode: Callable[[Sequence[Path]], Decoded]
    input: InputInfo
    what: str
    """``image`` or ``recording``, for the message when a file goes bad while training."""
    one_hot: int | None = None
    graph: dict[str, GraphDecode | None] = field(default_factory=dict)
    """Per split, a decoder inside the ``tf.data`` graph (string tensor of paths -> batch),
    used instead of ``decode`` where given: splits of plain 16-bit mono WAV files or of PNGs
    that need no conversion, decoded by TensorFlow to the same values in its own threads
    (:mod:`dltrain.data.audio.wav_graph`, :mod:`dltrain.data.images.png_graph`)."""

    def changed_files(self) -> str | None:
        """What became of files that no longer read, every split checked again with the
        Python reader (which names each file and why), or None when all still do.

        Training calls it when the pipeline failed: a file replaced or cut while a streamed
        run trains fails inside ``tf.data`` (in TensorFlow's WAV decoder, or in a
        ``numpy_function``) with a message that names no file.
        """
        bad = [
            item
            for paths in self.paths.values()
            for item in check_files(self.decode, self.input, paths).bad
        ]
        if not bad:
            return None
        lines = "".join(f"\n  {path}: {reason}" for path, reason in bad)
        return (
            f"{len(bad)} {self.what} file(s) changed since they were checked before training "
            f"and cannot be read now:{lines}"
        )

    def size(self, split: str) -> int:
        """Examples in ``split`` (0 when absent)."""
        return len(self.paths.get(split, ()))

    def labels(self, split: str) -> list[np.ndarray]:
        """Plain labels of ``split`` (class indices)."""
        return self.plain[split]

    def _load(self, split: str) -> Callable[[Any], tuple[Any, Any]]:
        import tensorflow as tf

        paths = self.paths[split]
        labels = tf.constant(self.plain[split][0].astype(np.int32))
        decode, what, depth = self.decode, self.what, self.one_hot
        dtype = tf.as_dtype(self.input.dtype)
        shape = (None, *self.input.shape)
        in_graph = self.graph.get(split)
        names = tf.constant([str(path) for path in paths]) if in_graph is not None else None

        def read(index: np.ndarray) -> np.ndarray:
            result = decode([paths[int(i)] for i in index])
            if result.bad:  # every file was read before training: it changed since
                lines = "".join(f"\n  {path}: {reason}" for path, reason in result.bad)
                raise DataError(
                    f"{len(result.bad)} {what} file(s) changed since they were checked before "
                    f"training and cannot be read now:{lines}"
                )
            return result.array

        def load(index: Any) -> tuple[Any, Any]:
            if in_graph is not None:
                x = tf.ensure_shape(in_graph(tf.gather(names, index)), shape)
            else:
                x = tf.ensure_shape(tf.numpy_function(read, [index], dtype), shape)
            y = tf.gather(labels, index)
            if depth is not None:
                y = tf.one_hot(y, depth, dtype=tf.float32)
            return x, y

        return plain_function(load)

    def _decoded(self, indices: tf.data.Dataset, split: str) -> tf.data.Dataset:
        # Ordered (deterministic) map: batches leave in the order their indices came.
        ds = indices.map(self._load(split), num_parallel_calls=PARALLEL_BATCHES)
        return ds.prefetch(PREFETCH)

    def train(
        self, batch: int, seed: int, start_epoch: int, epochs: int, shuffle: bool
    ) -> tf.data.Dataset:
        """Epochs ``start_epoch..epochs-1`` back to back, epoch ``e`` ordered by (seed, e)."""
        ds = train_indices(self.size("train"), batch, seed, start_epoch, epochs, shuffle)
        return self._decoded(ds, "train")

    def evaluation(self, split: str, batch: int) -> tf.data.Dataset:
        """``split`` in file order, decoded batch by batch on every pass."""
        return self._decoded(evaluation_indices(self.size(split), batch), split)
