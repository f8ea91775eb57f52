"""Data files read through gzip or bzip2 when their name ends in ``.gz`` or ``.bz2``.

Invariant: every byte a compressed data file yields passes through :class:`_Bounded`, which
stops with a :class:`~dltrain.errors.DataError` once the decompressed bytes pass
:func:`decompressed_limit` (a bomb guard: a 1 MB ``.csv.gz`` must not unpack to 100 GB while
a reader waits for its last row). The suffix chooses the codec and the magic bytes confirm it,
so a ``.gz`` that is not gzip is named as such instead of failing somewhere in the parser.
Fingerprints hash the compressed file as it is (:mod:`dltrain.data.fingerprint`).
No TensorFlow here.
"""

from __future__ import annotations

import bz2
import gzip
import io
import zlib
from pathlib import Path
from typing import IO, BinaryIO

from dltrain.data.files import check_data_file
from dltrain.errors import DataError

__all__ = [
    "DECOMPRESSED_RATIO",
    "MIN_DECOMPRESSED_LIMIT",
    "compression_of",
    "decompressed_limit",
    "open_data_bytes",
    "open_data_text",
]

_CODECS = {".gz": ("gzip", b"\x1f\x8b"), ".bz2": ("bzip2", b"BZh")}
DECOMPRESSED_RATIO = 100
"""Decompressed bytes allowed per compressed byte. Real CSVs compress 3-20x (bzip2 on very
repetitive numbers ~50x); a bomb compresses ~1000x (gzip) or far more (bzip2)."""
MIN_DECOMPRESSED_LIMIT = 1 << 30
"""The limit is never below 1 GiB, so a small file of very repetitive rows still reads."""


def decompressed_limit(compressed_bytes: int) -> int:
    """The most bytes a compressed data file of ``compressed_bytes`` may decompress to."""
    return max(DECOMPRESSED_RATIO * compressed_bytes, MIN_DECOMPRESSED_LIMIT)


def compression_of(path: Path) -> str | None:
    """``"gzip"``, ``"bzip2"`` or None, from the suffix, confirmed by the magic bytes.

    Raises:
        DataError: unreadable, or the name says ``.gz``/``.bz2`` but the bytes disagree.
    """
    codec = _CODECS.get(path.suffix.lower())
    if codec is None:
        return None
    name, magic = codec
    try:
        with path.open("rb") as handle:
            head = handle.read(len(magic))
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head != magic:
        raise DataError(f"{path}: not a {name} file (the name ends in {path.suffix})")
    return name


class _Bounded(io.RawIOBase):
    """A decompressing stream that stops at the limit and names the file in its errors."""

    def __init__(self, path: Path, name: str, stream: io.BufferedIOBase, limit: int) -> None:
        self._path, self._name, self._stream, self._limit = path, name, stream, limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._stream.read(len(buffer))
        except (OSError, EOFError, zlib.error) as exc:
            # A cut-off file raises EOFError, damaged data OSError or zlib.error.
            raise DataError(f"{self._path}: damaged {self._name} data ({exc})") from None
        self._read += len(data)
        if self._read > self._limit:
            raise DataError(
                f"{self._path}: decompresses to more than {self._limit:,} bytes "
                f"({DECOMPRESSED_RATIO}x the file, at least {MIN_DECOMPRESSED_LIMIT:,}); "
                "refused as a likely decompression bomb, decompress it yourself if it is not"
            )
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def open_data_bytes(path: Path, expected: str) -> BinaryIO:
    """The file's bytes, decompressed (and bounded) when it is ``.gz`` or ``.bz2``.

    Raises:
        DataError: as :func:`~dltrain.data.files.check_data_file` and :func:`compression_of`;
            reading later raises it for damaged data or past :func:`decompressed_limit`.
    """
    check_data_file(path, expected)
    name = compression_of(path)
    try:
        if name is None:
            return path.open("rb")
        size = path.stat().st_size
        opener = gzip.GzipFile if name == "gzip" else bz2.BZ2File
        stream: io.BufferedIOBase = opener(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return io.BufferedReader(_Bounded(path, name, stream, decompressed_limit(size)), 1 << 20)


def open_data_text(path: Path, expected: str) -> IO[str]:
    """The file as UTF-8 text for :mod:`csv` (``newline=""``; a byte-order mark is dropped)."""
    check_data_file(path, expected)
    if path.suffix.lower() not in _CODECS:
        try:
            return path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return io.TextIOWrapper(open_data_bytes(path, expected), encoding="utf-8-sig", newline="")
