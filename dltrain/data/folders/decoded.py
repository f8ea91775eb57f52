"""Many files decoded into one array: the good ones stacked, the bad ones named with a reason.

Invariant: the result depends only on the files, never on the number of workers or the order
in which they finish. Each file is decoded into its own preallocated row (its index in the
input), the bad files are listed in input order and the summary facts are counters, so
``workers=1`` and ``workers=8`` give identical arrays. Memory stays about one copy of the
data: the rows of bad files are closed up in place instead of copying the good rows out.
No TensorFlow here.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dltrain.data.memory import aligned_empty
from dltrain.errors import DataError

__all__ = [
    "BadFile",
    "Decoded",
    "bad_files_message",
    "decode_files",
    "default_workers",
    "file_problem",
]

_MAX_WORKERS = 8


@dataclass
class Decoded:
    """The files of one list, decoded."""

    array: np.ndarray
    """The good files stacked in input order: images uint8 ``(n, H, W, C)``, audio float32
    ``(n, samples)``."""
    kept: np.ndarray
    """int64 indices (into the input paths) of the files in ``array``, in order."""
    bad: list[tuple[Path, str]]
    """``(file, reason)`` for each file that could not be read, in input order."""
    seen: dict[str, Counter[str]]
    """Summary facts of the good files as they were on disk (``{"mode": Counter({"L": 9})}``)."""


class BadFile(DataError):
    """One data file cannot be read; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a data file, from ``stat`` alone (None when it can be read).

    A pipe would block its decoder for ever and a device could be endless, so only regular
    files are opened (symbolic links followed); an empty file is named as such, which says
    more than any decoder's complaint about it.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (a device, pipe or socket)"
    if info.st_size == 0:
        return "empty file (0 bytes)"
    return None


def default_workers() -> int:
    """Threads that decode files by default: one per core, at most 8 (decoding is I/O and
    native code that releases the GIL; more threads than that only add memory)."""
    return min(_MAX_WORKERS, os.cpu_count() or 1)


def bad_files_message(bad: list[tuple[Path, str]], what: str) -> str:
    """One message naming every bad file, one ``  path: reason`` line each.

    Args:
        bad: The ``(file, reason)`` pairs, as :attr:`Decoded.bad` holds them.
        what: What the files are, singular (``"image"``, ``"audio"``).

    Returns:
        ``"3 image files cannot be read:"``, a line per file, and the hint that
        ``data.bad_files: skip`` leaves them out.
    """
    count = len(bad)
    noun = "file" if count == 1 else "files"
    lines = [f"{count} {what} {noun} cannot be read:"]
    lines.extend(f"  {path}: {reason}" for path, reason in bad)
    lines.append("(data.bad_files: skip leaves them out)")
    return "\n".join(lines)


_CHUNK = 64
"""Files per task handed to a decoding thread."""


def decode_files(
    paths: Sequence[Path],
    shape: tuple[int, ...],
    dtype: type[np.generic],
    decode_into: Callable[[Path, np.ndarray], dict[str, str]],
    workers: int | None = None,
) -> Decoded:
    """Decode every file into one array of ``(len(paths), *shape)``, in parallel threads.

    Args:
        paths: The files, in the order their rows take.
        shape: One file's decoded shape.
        dtype: The array's element type.
        decode_into: Decodes one file into the row it is given and returns the file's facts
            (``{"mode": "RGB"}``); raises :class:`BadFile` for a file it cannot read.
        workers: Threads; default :func:`default_workers`. 1 decodes in this thread.

    Returns:
        The good rows, their indices, the bad files with reasons, and the facts counted.
    """
    count = len(paths)
    # Aligned as TensorFlow's kernels need, so the training pipeline holds this very buffer
    # instead of an aligned copy (the decoded split is in memory once, not twice).
    out = aligned_empty((count, *shape), dtype)
    threads = default_workers() if workers is None else max(1, workers)

    def one(index: int) -> dict[str, str] | str:
        try:
            return decode_into(paths[index], out[index])
        except BadFile as exc:
            # The reason only: the exception's traceback would keep the row's view alive.
            return exc.reason

    def run(chunk: range) -> list[dict[str, str] | str]:
        return [one(index) for index in chunk]

    if threads == 1 or count <= _CHUNK:
        results = run(range(count))
    else:
        # Contiguous chunks, not one task per file: with small files the per-task hand-off
        # between threads cost more than the decoding (5,000 28x28 PNGs: 1.51 s in two
        # threads one file at a time, 0.67 s in one thread; docs/benchmarks.md).
        chunks = [range(i, min(i + _CHUNK, count)) for i in range(0, count, _CHUNK)]
        with ThreadPoolExecutor(max_workers=min(threads, len(chunks))) as pool:
            results = [r for part in pool.map(run, chunks) for r in part]

    kept: list[int] = []
    bad: list[tuple[Path, str]] = []
    seen: dict[str, Counter[str]] = {}
    for index, result in enumerate(results):
        if isinstance(result, str):
            bad.append((paths[index], result))
            continue
        kept.append(index)
        for key, value in result.items():
            seen.setdefault(key, Counter())[value] += 1
    return Decoded(_compact(out, kept), np.asarray(kept, dtype=np.int64), bad, seen)


def _compact(out: np.ndarray, kept: list[int]) -> np.ndarray:
    """The kept rows of ``out`` in order, moved down in place (no second copy of the data)."""
    if len(kept) == len(out):
        return out
    for row, index in enumerate(kept):
        if row != index:
            out[row] = out[index]
    # The leading rows of the aligned buffer: the bad files' rows at its end stay allocated
    # (a few rows), the kept ones are not copied again.
    return out[: len(kept)]
