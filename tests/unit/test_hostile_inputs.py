"""Hostile data inputs (fault probes M6, M7, M8, N8): pipes, devices, gzip bombs, huge cells.

Each is refused with a located DataError before it can block or fill memory.
"""

from __future__ import annotations

import gzip
import os
import struct
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from datagen import make_images, write_idx

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData, MnistData
from dltrain.data.csv.arrays import load_csv_arrays
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.csv.reader import detect_format, read_all
from dltrain.data.idx import read_idx, read_npz
from dltrain.data.mnist import load_image_file, load_mnist, locate_mnist
from dltrain.errors import DataError

_NOT_REGULAR = r"not a regular file \(a device, pipe or socket\)"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe nobody writes to; after 10 s a guard keeps opening it for writing, so a
    reader that blocked on it is released (and its test fails on the message) instead of
    hanging."""
    path = tmp_path / "in.fifo"
    os.mkfifo(path)
    done = threading.Event()

    def release() -> None:
        if done.wait(10):
            return
        while not done.wait(0.05):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # no reader at this moment
                pass

    guard = threading.Thread(target=release, daemon=True)
    guard.start()
    yield path
    done.set()
    guard.join()


_READERS: dict[str, Callable[[Path], object]] = {
    "csv": lambda p: detect_format(p, None, None),
    "idx": lambda p: read_idx(p, 3),
    "idx-limit": lambda p: read_idx(p, 3, limit=5),
    "npz": lambda p: read_npz(p),
    "predict-images": lambda p: load_image_file(p, labels=False),
    "eval-images": lambda p: load_image_file(p, labels=True),
    "data.path": lambda p: locate_mnist(MnistData(kind="mnist", path=str(p))),
}


@pytest.mark.parametrize("reader", sorted(_READERS))
def test_a_fifo_is_refused_before_it_is_opened(fifo: Path, reader: str) -> None:
    with pytest.raises(DataError, match=rf"{fifo}: {_NOT_REGULAR}; expected"):
        _READERS[reader](fifo)


@pytest.mark.parametrize("reader", sorted(_READERS))
def test_a_device_is_refused_before_it_is_read(reader: str) -> None:
    # /dev/null stands for /dev/zero: the same check refuses both, and without it /dev/null
    # reads as empty where /dev/zero would fill memory.
    with pytest.raises(DataError, match=rf"/dev/null: {_NOT_REGULAR}"):
        _READERS[reader](Path("/dev/null"))


def _gzip_bomb(path: Path, zeros: int) -> Path:
    """A gzip IDX images file whose header states 3 images, followed by ``zeros`` bytes."""
    with gzip.open(path, "wb") as out:
        out.write(struct.pack(">IIII", 0x803, 3, 28, 28))
        block = b"\0" * (1 << 20)
        for _ in range(zeros >> 20):
            out.write(block)
    return path


@pytest.mark.parametrize("limit", [None, 2])
def test_a_gzip_bomb_is_refused_reading_no_more_than_its_header_promises(
    tmp_path: Path, limit: int | None
) -> None:
    bomb = _gzip_bomb(tmp_path / "t10k-images-idx3-ubyte.gz", 50 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(
            DataError, match=r"too long: header says 3×28×28 = 2352 bytes, file has more"
        ):
            read_idx(bomb, 3, limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The cap is 2,353 bytes plus gzip's buffers; decompressing the whole bomb took 50 MB.
    assert peak < 1 << 20, peak


def test_a_raw_idx_file_too_long_is_judged_from_its_size(tmp_path: Path) -> None:
    images, _ = make_images(3)
    path = write_idx(tmp_path / "img", images)
    with path.open("ab") as out:
        out.truncate(path.stat().st_size + (50 << 20))  # sparse: costs no disk
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"img: too long: .* = 2352 bytes, file has 52431152"):
            read_idx(path, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    good = write_idx(tmp_path / "good.gz", images, gz=True)
    np.testing.assert_array_equal(read_idx(good, 3), images)


def test_data_path_to_one_idx_file_says_what_it_takes(tmp_path: Path) -> None:
    images, _ = make_images(3)
    one = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, gz=True)
    with pytest.raises(DataError) as info:
        load_mnist(MnistData(kind="mnist", path=str(one)))
    message = str(info.value)
    assert "folder holding the four IDX files" in message and "Keras-layout .npz" in message
    assert "pickle" not in message


_LONG = "1" * 200_000
_CELL = r"a cell is longer than 131,072 characters"


@pytest.mark.parametrize("row", [2, 60])  # in the rows the format is sniffed from, and after
def test_a_cell_past_the_csv_field_limit_is_located_by_the_careful_reader(
    tmp_path: Path, row: int
) -> None:
    rows = [f"{i},red,{i % 2}" for i in range(100)]
    rows[row - 2] = f"{_LONG},red,1"
    path = tmp_path / "long.csv"
    path.write_text("x,color,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=rf"{path}:{row}: {_CELL}"):
        read_all(path, detect_format(path, None, None))


def test_one_line_without_a_newline_is_located(tmp_path: Path) -> None:
    path = tmp_path / "oneline.csv"
    path.write_text(_LONG * 3)
    with pytest.raises(DataError, match=rf"{path}:1: {_CELL}"):
        detect_format(path, None, None)


@pytest.mark.parametrize("column", ["x", "color", "unused"])
def test_the_fast_path_hands_a_long_cell_to_the_careful_reader(tmp_path: Path, column: str) -> None:
    # Past the sniffed rows, in each kind of column: pyarrow alone would accept the cell.
    rows = [{"x": str(i), "color": "red", "unused": "zz", "y": str(i % 2)} for i in range(100)]
    rows[70][column] = _LONG
    path = tmp_path / "long.csv"
    path.write_text("x,color,unused,y\n" + "".join(",".join(r.values()) + "\n" for r in rows))
    body = {
        "data": {"kind": "csv", "path": str(path), "target": "y", "categorical": ["color"],
                 "features": ["x", "color"]},
        "model": {"layers": ["Flatten"]},
    }  # fmt: skip
    data = config_from_dict(body).config.data
    assert isinstance(data, CsvData)
    sources = resolve_sources(data)
    with pytest.raises(DataError, match=rf"{path}:72: {_CELL}"):
        load_csv_arrays(data, sources, 0)
