"""A JSON-able fingerprint of the data a run used: which files (name, size, sha256), and the
shapes and class counts of each split, so two runs can be checked to have seen the same data."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["class_counts", "file_fingerprint", "files_fingerprint"]

_CHUNK = 8 << 20
"""Bytes read and hashed at a time. Few and large: the data is loaded while TensorFlow is
imported (:mod:`dltrain.data.ahead`), and each read and hash gives up the interpreter lock,
which the import then holds for up to 5 ms before handing it back."""


def file_fingerprint(path: Path) -> dict[str, Any]:
    """``{name, path, bytes, sha256}`` of one file, hashed in 8 MiB chunks (flat memory)."""
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as handle:
        # A small file (an image of a folder) gets a buffer of its size, plus one byte.
        buffer = bytearray(min(_CHUNK, os.fstat(handle.fileno()).st_size + 1))
        view = memoryview(buffer)
        while size := handle.readinto(buffer):
            digest.update(view[:size])
    return {
        "name": path.name,
        "path": str(path),
        "bytes": path.stat().st_size,
        "sha256": digest.hexdigest(),
    }


def files_fingerprint(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """:func:`file_fingerprint` of each distinct path, in order."""
    seen: set[Path] = set()
    out = []
    for path in paths:
        if path not in seen:
            seen.add(path)
            out.append(file_fingerprint(path))
    return out


def class_counts(indices: np.ndarray, class_names: Sequence[str]) -> dict[str, int]:
    """How many examples of each class ``indices`` (class indices) holds, by class name."""
    counts = np.bincount(np.asarray(indices, dtype=np.int64), minlength=len(class_names))
    return {name: int(count) for name, count in zip(class_names, counts, strict=False)}
