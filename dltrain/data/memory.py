"""Memory of in-memory datasets: arrays TensorFlow can share, and freed pages given back.

- :func:`aligned_empty` / :func:`shareable` give arrays whose buffer TensorFlow can use in
  place (C-contiguous, writeable, 64-byte aligned: what its kernels assume), so a split
  becomes a tensor through DLPack without a copy.
- :func:`release_freed_memory`: loading a large file allocates and frees many chunk-sized
  arrays; glibc keeps the freed pages of its heap for later allocations, so the process
  stays as large as at its busiest moment. This hands those pages back (``malloc_trim``). It
  changes no setting: later allocations behave as before. Elsewhere than glibc it does
  nothing.

No TensorFlow here.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["ALIGNMENT", "aligned_empty", "release_freed_memory", "shareable"]

ALIGNMENT = 64
"""Bytes: TensorFlow's CPU kernels require tensor buffers aligned to this (Eigen's maximum)."""

_SHAREABLE_KINDS = frozenset("biuf")
"""Booleans, integers and floats: the dtypes DLPack carries."""


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``np.empty(shape, dtype)`` whose buffer starts on an :data:`ALIGNMENT` boundary (an
    empty array has no buffer to align)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    aligned: np.ndarray = raw[start : start + nbytes].view(dtype).reshape(shape)
    return aligned


def shareable(array: np.ndarray) -> np.ndarray | None:
    """``array``, or an aligned copy of it, that TensorFlow can hold in place; ``None`` for
    what DLPack cannot carry (strings, objects, empty arrays)."""
    if array.dtype.kind not in _SHAREABLE_KINDS or array.size == 0:
        return None
    if array.flags.c_contiguous and array.flags.writeable and array.ctypes.data % ALIGNMENT == 0:
        return array
    copy = aligned_empty(array.shape, array.dtype)
    copy[...] = array
    return copy


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Return the heap's free pages to the operating system; whether any were returned."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
