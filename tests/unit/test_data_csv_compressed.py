""".csv.gz and .csv.bz2 read like the plain CSV: the careful reader, the pyarrow path, format
detection, the streaming scan and the row bound give the same results; errors are located in
the compressed file; a wrong magic, damaged data and a decompression bomb are DataErrors.
No TensorFlow needed."""

from __future__ import annotations

import bz2
import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_regression_csv, write_text

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData
from dltrain.data import compressed
from dltrain.data.csv.arrays import LoadedArrays, load_csv_arrays
from dltrain.data.csv.arrow import fast_chunks
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.csv.reader import detect_format, is_missing, read_all
from dltrain.data.csv.split_store import row_bound
from dltrain.data.csv.stream import scan
from dltrain.data.fingerprint import file_fingerprint
from dltrain.errors import DataError

CORPUS = Path(__file__).resolve().parents[3] / "shared/data/rotten_tomatoes_corpus_full.csv.bz2"
CODECS: dict[str, Callable[[bytes], bytes]] = {".gz": gzip.compress, ".bz2": bz2.compress}


def _csv_data(**data: Any) -> CsvData:
    body = {"data": {"kind": "csv", **data}, "model": {"layers": ["Flatten"]}}
    parsed = config_from_dict(body).config.data
    assert isinstance(parsed, CsvData)
    return parsed


def _compress(path: Path, suffix: str) -> Path:
    out = path.with_name(path.name + suffix)
    out.write_bytes(CODECS[suffix](path.read_bytes()))
    return out


def _same_arrays(a: LoadedArrays, b: LoadedArrays) -> None:
    assert a.splits.keys() == b.splits.keys()
    for name, split in a.splits.items():
        other = b.splits[name]
        assert split.x.keys() == other.x.keys()
        for key, values in split.x.items():
            assert values.dtype == other.x[key].dtype
            np.testing.assert_array_equal(values, other.x[key])
        for x, y in zip(split.y + split.labels, other.y + other.labels, strict=True):
            np.testing.assert_array_equal(x, y)
    assert a.stats == b.stats
    assert [w.replace(".gz", "").replace(".bz2", "") for w in a.warnings] == b.warnings


def _load(path: Path) -> tuple[LoadedArrays, tuple[Any, ...]]:
    data = _csv_data(
        path=str(path), target="y", categorical=["color"], missing="mean", chunk_rows=64
    )
    sources = resolve_sources(data)
    stats, _, sizes, labels, _ = scan(data, sources, 3)  # data.stream's pass
    return load_csv_arrays(data, sources, 3), (sources.main.fmt, stats, sizes, labels)


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
def test_compressed_file_gives_the_plain_files_arrays(tmp_path: Path, suffix: str) -> None:
    plain = write_regression_csv(tmp_path / "r.csv", n=300, missing=True)
    packed = _compress(plain, suffix)
    assert row_bound(packed) == row_bound(plain)
    arrays, streamed = _load(packed)
    plain_arrays, plain_streamed = _load(plain)
    _same_arrays(arrays, plain_arrays)
    assert streamed == plain_streamed
    # The fingerprint hashes the compressed bytes as they are.
    assert file_fingerprint(packed)["sha256"] == hashlib.sha256(packed.read_bytes()).hexdigest()


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
@pytest.mark.parametrize("fast", [True, False])
def test_error_in_a_compressed_file_is_located(tmp_path: Path, suffix: str, fast: bool) -> None:
    rows = [f"{i},{2 * i}" for i in range(60)]
    rows[41] = "oops,1"  # line 43 (the header is line 1)
    packed = _compress(write_text(tmp_path / "u.csv", "a,y\n" + "\n".join(rows) + "\n"), suffix)
    data = _csv_data(path=str(packed), target="y", chunk_rows=10)
    with pytest.raises(DataError, match=rf"u\.csv\{suffix}:43:1: column 'a' holds text 'oops'"):
        list(resolve_sources(data).main.chunks(data, 0, 10, fast=fast))


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
def test_format_detection_reads_through_compression(tmp_path: Path, suffix: str) -> None:
    path = write_text(tmp_path / "d.csv", "a;b;y\n1,5;2;x\n3,25;4;z\n")
    fmt = detect_format(_compress(path, suffix), None, None)
    assert (fmt.delimiter, fmt.header, fmt.columns, fmt.decimal) == (
        ";",
        True,
        ("a", "b", "y"),
        ",",
    )


@pytest.mark.parametrize(("suffix", "name"), [(".gz", "gzip"), (".bz2", "bzip2")])
def test_a_name_that_lies_about_compression(tmp_path: Path, suffix: str, name: str) -> None:
    path = write_text(tmp_path / f"plain.csv{suffix}", "a,y\n1,2\n")
    with pytest.raises(DataError, match=rf"plain\.csv\{suffix}: not a {name} file"):
        detect_format(path, None, None)


def test_damaged_gzip_is_a_data_error(tmp_path: Path) -> None:
    packed = _compress(write_regression_csv(tmp_path / "r.csv", n=200), ".gz")
    packed.write_bytes(packed.read_bytes()[:-200])  # a cut-off download
    with pytest.raises(DataError, match=r"r\.csv\.gz: damaged gzip data \(Compressed file ended"):
        read_all(packed, detect_format(packed, None, None))


@pytest.mark.parametrize("fast", [True, False])
def test_decompression_bomb_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    assert compressed.decompressed_limit(10) == 1 << 30
    assert compressed.decompressed_limit(1 << 30) == 100 << 30
    packed = _compress(write_text(tmp_path / "z.csv", "a,y\n" + "0,0\n" * 50_000), ".gz")
    data = _csv_data(path=str(packed), target="y", chunk_rows=1000)
    source = resolve_sources(data).main  # detection reads the first lines only
    monkeypatch.setattr(compressed, "MIN_DECOMPRESSED_LIMIT", 4096)
    with pytest.raises(DataError, match=r"z\.csv\.gz: decompresses to more than"):
        list(source.chunks(data, 0, 1000, fast=fast))


@pytest.mark.skipif(not CORPUS.is_file(), reason=f"{CORPUS} is absent (shared test data)")
def test_real_bz2_corpus_same_cells_on_both_paths() -> None:
    # Text cells hold quoted commas and line breaks.
    data = _csv_data(
        path=str(CORPUS),
        target="category",
        task="multiclass",
        missing="mean",
        categorical=["text", "movie_name", "has_plot_and_reviews"],
    )
    source = resolve_sources(data).main
    assert source.fmt.columns == ("category", "text", "movie_name", "has_plot_and_reviews")
    careful = read_all(CORPUS, source.fmt)
    assert len(careful.rows) == 13_905
    parts = list(fast_chunks(source.path, source.fmt, source.plan, 100_000))
    assert sum(len(p) for p in parts) == 13_905
    for column in ("text", "movie_name"):
        fast = np.concatenate([p.categorical[column] for p in parts]).tolist()
        index = source.fmt.columns.index(column)
        expected = ["" if is_missing(r[index]) else r[index].strip() for r in careful.rows]
        assert fast == expected, column
    texts = [r[1] for r in careful.rows]
    assert any("\n" in cell for cell in texts) and any("," in cell for cell in texts)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 20_000])
def test_a_fingerprint_hashes_every_byte_whatever_the_files_size_against_the_chunk(
    tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dltrain.data import fingerprint

    monkeypatch.setattr(fingerprint, "_CHUNK", 4096)  # 8 MiB in use: the same loop, smaller
    path = tmp_path / "data.bin"
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    found = file_fingerprint(path)
    assert found["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert found["bytes"] == size
