"""The pyarrow CSV path gives exactly what the careful row-by-row reader gives, and falls back
to it (with its located errors) whenever it cannot vouch for a chunk. No TensorFlow needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_regression_csv, write_text

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData
from dltrain.data.csv import arrow as arrow_csv
from dltrain.data.csv import layout as csv_source
from dltrain.data.csv.arrays import LoadedArrays, load_csv_arrays
from dltrain.data.csv.arrow import FastPathFailed, fast_chunks
from dltrain.data.csv.layout import CsvFile, resolve_sources
from dltrain.data.csv.split_store import SplitStore, row_bound, row_capacity
from dltrain.data.csv.stats import TEST, TRAIN, VALIDATION
from dltrain.data.csv.tabular import PreparedChunk
from dltrain.errors import DataError

# Every column kind: numeric features (missing tokens in several spellings, quoted and
# space-padded numbers), a categorical feature (padded, quoted with the delimiter inside,
# missing), an unused column, and regression, binary and multiclass targets.
EVERY_KIND = (
    "num,cat,unused,reg,yes_no,klass\n"
    "1.5, red ,zz,10,yes,1\n"
    'NA,"blue, dark",zz,11.5,no,1.0\n'
    '" 2.25",NA,zz,12,yes, 2 \n'
    "n/a,red,zz,,no,3\n"
    "NULL,green,zz,14,yes,2\n"
    "none,red,zz,15,no,3\n"
    "?,blue,zz,16,yes,1\n"
    "-3e2,?,zz,17,no,2\n"
    "\n"
    "NaN,red,zz,18,yes,3\n"
    "4,red,zz,19,,1\n"
)


def _csv_data(**data: Any) -> CsvData:
    body = {"data": {"kind": "csv", **data}, "model": {"layers": ["Flatten"]}}
    parsed = config_from_dict(body).config.data
    assert isinstance(parsed, CsvData)
    return parsed


def _every_kind(tmp_path: Path, **extra: Any) -> tuple[CsvData, CsvFile]:
    path = write_text(tmp_path / "every.csv", EVERY_KIND)
    data = _csv_data(
        path=str(path),
        target=["reg", "yes_no", "klass"],
        task={"reg": "regression", "yes_no": "binary", "klass": "multiclass"},
        features=["num", "cat"],
        categorical=["cat"],
        missing="mean",
        **extra,
    )
    return data, resolve_sources(data).main


def _merged(parts: list[PreparedChunk]) -> dict[str, Any]:
    out: dict[str, Any] = {"codes": np.concatenate([p.codes for p in parts]).tolist()}
    for kind in ("numeric", "categorical", "targets"):
        for name in getattr(parts[0], kind):
            out[name] = np.concatenate([getattr(p, kind)[name] for p in parts]).tolist()
    out["present"] = [p.present for p in parts]
    out["dropped"] = [p.dropped for p in parts]
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key in ("num", "reg"):
            np.testing.assert_array_equal(np.array(a[key]), np.array(b[key]))
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("chunk_rows", [3, 100])
def test_every_column_kind_matches_the_careful_reader(tmp_path: Path, chunk_rows: int) -> None:
    data, source = _every_kind(tmp_path)
    # The fast path really is taken for this file (no fallback).
    assert sum(len(c) for c in fast_chunks(source.path, source.fmt, source.plan, chunk_rows)) == 10
    fast = _merged(list(source.chunks(data, 0, chunk_rows)))
    slow = _merged(list(source.chunks(data, 0, chunk_rows, fast=False)))
    _same(fast, slow)
    nan = float("nan")
    # The rows without a target (reg row 5, yes_no row 11) are dropped under missing: mean.
    expected_num = [1.5, nan, 2.25, nan, nan, nan, -300.0, nan]
    np.testing.assert_array_equal(np.array(fast["num"]), np.array(expected_num))
    assert fast["cat"] == ["red", "blue, dark", "", "green", "red", "blue", "", "red"]
    assert fast["reg"] == [10.0, 11.5, 12.0, 14.0, 15.0, 16.0, 17.0, 18.0]
    assert fast["yes_no"] == ["yes", "no", "yes", "yes", "no", "yes", "no", "yes"]
    assert fast["klass"] == ["1", "1", "2", "2", "3", "1", "2", "3"]
    assert sum(fast["dropped"]) == 2


def test_loaded_arrays_identical_without_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_regression_csv(tmp_path / "r.csv", n=300, missing=True)
    data = _csv_data(
        path=str(path), target="y", categorical=["color"], missing="mean", chunk_rows=64
    )
    fast = load_csv_arrays(data, resolve_sources(data), 3)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise FastPathFailed(0, "disabled")
        yield  # a generator, as fast_chunks is

    monkeypatch.setattr(csv_source, "fast_chunks", refuse)
    slow = load_csv_arrays(data, resolve_sources(data), 3)
    _same_arrays(fast, slow)


def _same_arrays(fast: LoadedArrays, slow: LoadedArrays) -> None:
    assert fast.splits.keys() == slow.splits.keys()
    for name, split in fast.splits.items():
        other = slow.splits[name]
        assert split.x.keys() == other.x.keys()
        for key, values in split.x.items():
            assert values.dtype == other.x[key].dtype
            np.testing.assert_array_equal(values, other.x[key])
        for a, b in zip(split.y + split.labels, other.y + other.labels, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
    assert fast.stats == slow.stats
    assert fast.warnings == slow.warnings


def test_fallback_takes_over_mid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Python reads 1_000 as a number, pyarrow does not: the careful reader takes over from
    # the chunk holding it, and the result is what it always was. Small blocks make the
    # fast path yield the first chunks before it meets that row.
    monkeypatch.setattr(arrow_csv, "_BLOCK_BYTES", 64)
    rows = [f"{i},{2 * i}" for i in range(40)]
    rows[25] = "1_000,50"
    path = write_text(tmp_path / "u.csv", "a,y\n" + "\n".join(rows) + "\n")
    data = _csv_data(path=str(path), target="y", chunk_rows=10)
    source = resolve_sources(data).main
    with pytest.raises(FastPathFailed) as failed:
        list(fast_chunks(source.path, source.fmt, source.plan, 10))
    assert failed.value.start in (10, 20)
    parts = list(source.chunks(data, 0, 10))
    assert [p.codes.size for p in parts] == [10, 10, 10, 10]
    values = np.concatenate([p.numeric["a"] for p in parts])
    assert values[25] == 1000.0 and values[24] == 24.0 and values[39] == 39.0


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("oops", ":43:1: column 'a' holds text 'oops' where numbers are expected"),
        ("inf", ":43:1: column 'a' holds 'inf'; only finite numbers are allowed"),
        ("", ":43:1: column 'a' is empty; fill the cell"),
        ("None", ":43:1: column 'a' holds 'None', which counts as missing; fill the cell"),
    ],
)
def test_errors_after_the_fast_path_fails_are_located(
    tmp_path: Path, cell: str, message: str
) -> None:
    rows = [f"{i},{2 * i}" for i in range(60)]
    rows[41] = f"{cell},82"  # data row 41 is line 43 (the header is line 1)
    path = write_text(tmp_path / "e.csv", "a,y\n" + "\n".join(rows) + "\n")
    data = _csv_data(path=str(path), target="y", chunk_rows=16)
    with pytest.raises(DataError) as err:
        load_csv_arrays(data, resolve_sources(data), 0)
    assert str(err.value).startswith(f"{path}{message}")


def test_ragged_row_and_blank_line_before_header(tmp_path: Path) -> None:
    rows = [f"{i},{2 * i}" for i in range(30)]
    rows[20] = "20,40,1"
    path = write_text(tmp_path / "r.csv", "a,y\n" + "\n".join(rows) + "\n")
    data = _csv_data(path=str(path), target="y", chunk_rows=8)
    with pytest.raises(DataError) as err:
        load_csv_arrays(data, resolve_sources(data), 0)
    assert str(err.value) == f"{path}:22: row has 3 fields, the header has 2"
    blank = write_text(tmp_path / "b.csv", "\n\na,y\n" + "\n".join(rows[:20]) + "\n")
    data = _csv_data(path=str(blank), target="y")
    loaded = load_csv_arrays(data, resolve_sources(data), 0)
    assert sum(len(s) for s in loaded.splits.values()) == 20


def test_limit_and_decimal_comma(tmp_path: Path) -> None:
    rows = [f"{i},5;{i % 2}" for i in range(50)]
    path = write_text(tmp_path / "d.csv", "a;y\n" + "\n".join(rows) + "\n")
    data = _csv_data(path=str(path), target="y", limit=23, chunk_rows=10, decimal=",")
    source = resolve_sources(data).main
    parts = list(source.chunks(data, 0, 10))
    assert [len(p) for p in parts] == [10, 10, 3]
    values = np.concatenate([p.numeric["a"] for p in parts])
    np.testing.assert_array_equal(values, np.arange(23) + 0.5)
    slow = list(source.chunks(data, 0, 10, fast=False))
    np.testing.assert_array_equal(values, np.concatenate([p.numeric["a"] for p in slow]))


def test_split_store_grows_past_its_bound_and_row_bound(tmp_path: Path) -> None:
    store = SplitStore({TRAIN: 1, VALIDATION: 0, TEST: 0})
    for start in (0, 4):
        codes = np.array([TRAIN, TEST, TRAIN, TRAIN], dtype=np.uint8)
        store.add(
            PreparedChunk(
                codes,
                {"a": np.arange(start, start + 4, dtype=np.float64)},
                {"c": np.array(["x", "y", "", "z"], dtype=object)},
            )
        )
    train = store.take(TRAIN)
    assert train.numeric["a"].dtype == np.float32  # features are kept as float32
    np.testing.assert_array_equal(train.numeric["a"], [0, 2, 3, 4, 6, 7])
    assert train.categorical["c"].tolist() == ["x", "", "z", "x", "", "z"]
    assert store.take(TEST).numeric["a"].tolist() == [1.0, 5.0]
    assert len(store.take(VALIDATION)) == 0
    assert row_bound(write_text(tmp_path / "mac.csv", "a,y\r1,2\r3,4")) == 3
    assert row_bound(write_text(tmp_path / "unix.csv", "a,y\n1,2\n")) == 3


def test_row_capacity_estimates_from_the_first_rows_and_loading_outgrows_it(
    tmp_path: Path,
) -> None:
    # 2 MiB of rows as long as the first: room for all of them, with at most a quarter spare.
    row = "1234567.891011,-98765.4321\n"
    even = write_text(tmp_path / "even.csv", "a,y\n" + row * 80_000)
    assert 80_000 <= row_capacity(even) <= 1.25 * 80_000 + 10
    # Long rows first, then many short ones: the estimate is too small, the load still whole.
    short = write_text(tmp_path / "short.csv", "a,y\n" + row * 40_000 + "1,2\n" * 300_000)
    assert row_capacity(short) < 340_000
    data = _csv_data(path=str(short), target="y", test=0.2, chunk_rows=50_000)
    loaded = load_csv_arrays(data, resolve_sources(data), 0)
    assert sum(len(split) for split in loaded.splits.values()) == 340_000
    train = loaded.splits["train"].x["features"][:, 0]
    assert (train == np.float32(1234567.891011)).any() and (train == 1).sum() > 180_000
    # Small and compressed files are counted exactly.
    assert row_capacity(write_text(tmp_path / "small.csv", "a,y\n1,2\n")) == 3
