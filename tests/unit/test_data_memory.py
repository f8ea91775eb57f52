"""Arrays TensorFlow can share, and freed heap pages handed back (no TensorFlow)."""

from __future__ import annotations

import ctypes
import platform
import sys

import numpy as np
import pytest

from dltrain.data.memory import ALIGNMENT, aligned_empty, release_freed_memory, shareable

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's; elsewhere release_freed_memory does nothing",
)


def _resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096 / 2**20


@glibc
def test_freed_heap_pages_go_back_to_the_system() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64 * 1024  # under glibc's mmap threshold: these come from the heap
    blocks = [libc.malloc(size) for _ in range(1600)]  # 100 MiB
    for block in blocks:
        ctypes.memset(block, 1, size)  # touched, so resident
    pinned = libc.malloc(size)  # above them all: free() alone cannot shrink the heap
    for block in blocks:
        libc.free(block)
    try:
        before = _resident_mib()
        assert release_freed_memory() is True
        assert before - _resident_mib() > 50
    finally:
        libc.free(pinned)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.int64, np.bool_])
def test_aligned_empty_starts_on_a_64_byte_boundary(dtype: type) -> None:
    for rows in (1, 7, 1000):
        array = aligned_empty((rows, 3), dtype)
        assert array.shape == (rows, 3) and array.dtype == dtype
        assert array.ctypes.data % ALIGNMENT == 0 and array.flags.c_contiguous
        assert array.flags.writeable
    empty = aligned_empty((0, 3), dtype)  # no buffer to align; never shared (shareable: None)
    assert empty.shape == (0, 3) and empty.dtype == dtype


def test_shareable_keeps_an_aligned_array_and_copies_the_rest() -> None:
    aligned = aligned_empty((100, 4), np.float32)
    aligned[...] = np.arange(400, dtype=np.float32).reshape(100, 4)
    assert shareable(aligned) is aligned
    # Misaligned, read-only, or not C-contiguous: an aligned, writeable copy, equal to it.
    raw = aligned_empty((1700,), np.uint8)
    misaligned = raw[16 : 16 + 1600].view(np.float32).reshape(100, 4)
    misaligned[...] = aligned
    readonly = aligned.copy()
    readonly.flags.writeable = False
    for array in (misaligned, readonly, np.asfortranarray(aligned), aligned[:, ::2]):
        copy = shareable(array)
        assert copy is not None and copy is not array and not np.shares_memory(copy, array)
        assert copy.ctypes.data % ALIGNMENT == 0 and copy.flags.writeable
        assert copy.flags.c_contiguous and np.array_equal(copy, array)


def test_shareable_leaves_what_dlpack_cannot_carry() -> None:
    assert shareable(np.array([["a"], ["b"]])) is None
    assert shareable(np.array([1, "x"], dtype=object)) is None
    assert shareable(np.empty((0, 3), np.float32)) is None
