"""Reading MNIST-format files (IDX, raw or gzipped, and Keras-layout ``.npz``) without TensorFlow.

Every check names the file and says what was expected and what was found, because a corrupt
or truncated download is the most common way this data goes wrong.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.files import check_data_file
from dltrain.errors import DataError

__all__ = [
    "IMAGE_SIZE",
    "NUM_CLASSES",
    "check_images",
    "check_labels",
    "read_idx",
    "read_idx_pair",
    "read_npz",
]

IMAGE_SIZE = 28
NUM_CLASSES = 10
_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_PROBE_BYTES = 1 << 16
_INFLATE_INPUT = 512 << 10
"""Compressed bytes handed to zlib at a time (:class:`_Gunzipped`)."""


class _Gunzipped:
    """A gzip file's decompressed bytes, ``read(size)`` at a time, as ``gzip.GzipFile`` gives
    them (members one after another, zero padding after one skipped, each member's CRC and
    length checked by zlib), but fed :data:`_INFLATE_INPUT` compressed bytes at a time instead
    of GzipFile's 8 KiB: Fashion-MNIST's 26 MB training images are 51 calls into zlib instead
    of 3,800 trips through Python, each of which waits for the interpreter lock while
    TensorFlow is imported beside the load (:mod:`dltrain.data.ahead`). 512 KiB keeps a gzip
    bomb's cost under 1 MiB (``tests/unit/test_hostile_inputs.py``).

    Raises (from ``read``): EOFError where the file ends inside a member, ``zlib.error`` on
    damaged data.
    """

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self._member: Any = None
        self._pending = b""

    def read(self, size: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < size:
            at_end = False
            if not self._pending:
                self._pending = self._raw.read(_INFLATE_INPUT)
                at_end = not self._pending
            if self._member is None:
                if at_end:
                    break  # the file ends between members
                self._pending = self._pending.lstrip(b"\0")  # padding after a member
                if not self._pending:
                    continue
                self._member = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
            if at_end:
                tail = self._member.decompress(b"", size - got)  # output zlib still holds
                if not tail:
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
                parts.append(tail)
                got += len(tail)
                continue
            chunk = self._member.decompress(self._pending, size - got)
            parts.append(chunk)
            got += len(chunk)
            if self._member.eof:
                self._pending, self._member = self._member.unused_data, None
            else:
                self._pending = self._member.unconsumed_tail
        return b"".join(parts)


def _read_bytes(path: Path, ndim: int) -> bytes:
    """The header and at most the payload it states plus one byte, gunzipped when the file is
    gzip data (whatever its name says).

    Decompression streams and stops there: a gzip bomb (a header for 3 images, then gigabytes
    of zeros) costs the 2,352 bytes its header promises, not the gigabytes. A raw file's
    length is judged from its size before its payload is read.

    Raises:
        DataError: unreadable, not gzip despite a ``.gz`` name, damaged gzip data, or gzip
            data longer than its header states.
    """
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with raw:
        try:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
        except OSError as exc:
            raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if not gzipped and path.suffix == ".gz":
            raise DataError(f"{path.name}: not a gzip file (name ends in .gz); re-download it")
        stream: io.BufferedIOBase | _Gunzipped = _Gunzipped(raw) if gzipped else raw
        try:
            header = stream.read(4 + 4 * ndim)
            if len(header) < 4 + 4 * ndim or header[:4] != struct.pack(">I", (_UBYTE << 8) | ndim):
                # Not IDX data; a cut-off download still says "re-download" (bounded read).
                stream.read(_PROBE_BYTES)
                return header  # read_idx names what is wrong with the header
            dims = struct.unpack(f">{ndim}I", header[4:])
            expected = int(np.prod(dims, dtype=np.int64))
            has = os.fstat(raw.fileno()).st_size - len(header)
            if not gzipped and has > expected:
                raise DataError(_length_problem(path.name, dims, expected, str(has)))
            payload = stream.read(expected + 1)
        except (OSError, EOFError, zlib.error) as exc:
            if not gzipped:
                raise DataError(f"{path}: cannot read: {exc}") from None
            # A cut-off download raises EOFError, a damaged one BadGzipFile or zlib.error.
            raise DataError(f"{path.name}: bad gzip data ({exc}); re-download the file") from None
    if len(payload) > expected:
        raise DataError(_length_problem(path.name, dims, expected, "more (reading stopped there)"))
    return header + payload


def _length_problem(name: str, dims: tuple[int, ...], expected: int, has: object) -> str:
    shape = "×".join(str(d) for d in dims)
    problem = "truncated" if isinstance(has, int) and has < expected else "too long"
    return f"{name}: {problem}: header says {shape} = {expected} bytes, file has {has}"


def read_idx(path: Path, ndim: int, limit: int | None = None) -> np.ndarray:
    """Parse an IDX file of unsigned bytes with ``ndim`` dimensions (3: images, 1: labels).

    With ``limit``, only the header and the first ``limit`` records are read and decoded
    (``data.limit``: a 1,000-image run does not unpack 60,000); the file's length is still
    checked against its header, from the file size or the gzip trailer.

    Raises:
        DataError: wrong magic number, truncated header or payload, or trailing bytes.
    """
    return _read_idx(path, ndim, limit)[0]


def _read_idx(path: Path, ndim: int, limit: int | None) -> tuple[np.ndarray, int]:
    """:func:`read_idx`, and the number of records the header states."""
    check_data_file(path, "an IDX file")
    if limit is not None:
        head = _read_head(path, ndim, limit)
        if head is not None:
            return head
    blob = _read_bytes(path, ndim)
    name = path.name
    what = "images" if ndim == 3 else "labels"
    expected_magic = (_UBYTE << 8) | ndim
    if len(blob) < 4:
        raise DataError(f"{name}: truncated: {len(blob)} bytes, too short for an IDX header")
    (magic,) = struct.unpack(">I", blob[:4])
    if magic != expected_magic:
        raise DataError(
            f"{name}: not an IDX {what} file: magic number is 0x{magic:08x}, "
            f"expected 0x{expected_magic:08x}"
        )
    header_len = 4 + 4 * ndim
    if len(blob) < header_len:
        raise DataError(
            f"{name}: truncated: the header needs {header_len} bytes, file has {len(blob)}"
        )
    dims = struct.unpack(f">{ndim}I", blob[4:header_len])
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(blob) - header_len
    if payload != expected:
        raise DataError(_length_problem(name, dims, expected, payload))
    array = np.frombuffer(blob, dtype=np.uint8, offset=header_len).reshape(dims)
    return (array if limit is None else array[:limit]), int(dims[0])


def _read_head(path: Path, ndim: int, limit: int) -> tuple[np.ndarray, int] | None:
    """The first ``limit`` records, or None when the file needs a full read to be judged
    (its stated length does not match, or it is damaged: :func:`read_idx` then says how)."""
    header_len = 4 + 4 * ndim
    try:
        size = path.stat().st_size
        with path.open("rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
            if gzipped:
                raw.seek(-4, 2)  # ISIZE: the uncompressed length modulo 2**32
                (stated,) = struct.unpack("<I", raw.read(4))
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as handle:
            header = handle.read(header_len)
            if len(header) < header_len:
                return None
            magic, *dims = struct.unpack(f">I{ndim}I", header)
            if magic != (_UBYTE << 8) | ndim:
                return None
            record = int(np.prod(dims[1:], dtype=np.int64))
            total = header_len + dims[0] * record
            if (total % 2**32 if gzipped else total) != (stated if gzipped else size):
                return None
            count = min(limit, dims[0])
            payload = handle.read(count * record)
    except (OSError, EOFError, zlib.error):
        return None
    if len(payload) < count * record:
        return None
    return np.frombuffer(payload, dtype=np.uint8).reshape(count, *dims[1:]), int(dims[0])


def check_images(images: np.ndarray, name: str) -> np.ndarray:
    """``images`` as uint8 (n, 28, 28); accepts a trailing channel axis of 1.

    Raises:
        DataError: another shape, or values outside 0..255.
    """
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{name}: expected images of shape (n, {IMAGE_SIZE}, {IMAGE_SIZE}); "
            f"received shape {tuple(images.shape)}"
        )
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer) or (
            images.size and (images.min() < 0 or images.max() > 255)
        ):
            raise DataError(f"{name}: expected uint8 pixels 0..255; received dtype {images.dtype}")
        images = images.astype(np.uint8)
    return images


def check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """``labels`` as uint8 (n,) class indices 0..9.

    Raises:
        DataError: another shape or dtype, or a label outside 0..9.
    """
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{name}: expected integer labels of shape (n,); received dtype {labels.dtype}, "
            f"shape {tuple(labels.shape)}"
        )
    bad = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{name}: label {int(labels[i])} at index {i} is outside 0..{NUM_CLASSES - 1}"
        )
    return labels.astype(np.uint8)


def read_idx_pair(
    images_path: Path, labels_path: Path, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels from two IDX files (the first ``limit`` of each), checked against
    each other."""
    images, n_images = _read_idx(images_path, 3, limit)
    labels, n_labels = _read_idx(labels_path, 1, limit)
    images = check_images(images, images_path.name)
    labels = check_labels(labels, labels_path.name)
    if n_images != n_labels:
        raise DataError(
            f"{images_path.name} has {n_images} images but {labels_path.name} has "
            f"{n_labels} labels; the two files must come from the same split"
        )
    return images, labels


def read_npz(
    path: Path, splits: tuple[str, ...] = ("train", "test")
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (images, labels)}`` from a Keras-layout ``.npz`` (``x_<split>``/``y_<split>``).

    Raises:
        DataError: unreadable archive, missing keys (listing what it has), bad arrays.
    """
    check_data_file(path, "a Keras-layout .npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path.name}: not a readable .npz archive ({exc})") from None
    with archive:
        keys = sorted(archive.files)
        wanted = [f"{xy}_{split}" for split in splits for xy in ("x", "y")]
        missing = [k for k in wanted if k not in keys]
        if missing:
            raise DataError(
                f"{path.name}: missing {', '.join(missing)}; it has "
                f"{', '.join(keys) or 'no arrays'} (expected the Keras layout "
                "x_train, y_train, x_test, y_test)"
            )
        out = {}
        for split in splits:
            try:
                x, y = archive[f"x_{split}"], archive[f"y_{split}"]
            except (ValueError, OSError, zipfile.BadZipFile, zlib.error) as exc:
                raise DataError(f"{path.name}: cannot read x_{split}/y_{split} ({exc})") from None
            images = check_images(x, f"{path.name}: x_{split}")
            labels = check_labels(y, f"{path.name}: y_{split}")
            if len(images) != len(labels):
                raise DataError(
                    f"{path.name}: x_{split} has {len(images)} images but y_{split} has "
                    f"{len(labels)} labels"
                )
            out[split] = (images, labels)
    return out
