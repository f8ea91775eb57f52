"""``categorical: auto`` and the error naming every text column at once (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_text

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData
from dltrain.data.csv.arrays import load_csv_arrays
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.csv.stream import scan
from dltrain.errors import ConfigError, DataError

# "code" holds integer codes (stays numeric under auto); "color" and "city" hold text, "city"
# only from row 5 on, so the first chunk of a small chunk size sees numbers only.
ROWS = (
    "x,code,color,city,y\n"
    "1.5,1,red,1,10\n"
    "2.5,2,blue,2,11\n"
    "3.5,1,,3,12\n"
    "4.5,3,red,4,13\n"
    "5.5,2,green,Paris,14\n"
    "6.5,1,red,5,15\n"
    "7.5,3,blue,6,16\n"
    "8.5,2,red,Rome,17\n"
)


def _csv_data(path: Path, **data: Any) -> CsvData:
    body = {
        "data": {"kind": "csv", "path": str(path), "target": "y", "missing": "mean", **data},
        "model": {"layers": ["Flatten"]},
    }
    parsed = config_from_dict(body).config.data
    assert isinstance(parsed, CsvData)
    return parsed


@pytest.mark.parametrize("fast", [True, False])
def test_auto_makes_text_columns_categorical(tmp_path: Path, fast: bool) -> None:
    data = _csv_data(write_text(tmp_path / "k.csv", ROWS), categorical="auto", chunk_rows=3)
    sources = resolve_sources(data)
    plan = sources.main.plan
    assert plan.categorical == {"color", "city"} and plan.numeric == ["x", "code"]
    assert sources.inferred == ("color", "city")
    parts = list(sources.main.chunks(data, 0, 3, fast=fast))
    assert all(set(p.categorical) == {"color", "city"} for p in parts)
    codes = np.concatenate([p.numeric["code"] for p in parts])
    assert codes.dtype == np.float64 and codes.tolist() == [1, 2, 1, 3, 2, 1, 3, 2]
    city = np.concatenate([p.categorical["city"] for p in parts]).tolist()
    assert city[4] == "Paris" and city[0] == "1"
    loaded = load_csv_arrays(data, sources, 0)
    assert [i.name for i in loaded.spec.raw_inputs] == ["features", "color", "city"]


def test_auto_names_the_inferred_columns(tmp_path: Path) -> None:
    data = _csv_data(write_text(tmp_path / "k.csv", ROWS), categorical="auto")
    sources = resolve_sources(data)
    assert sources.fingerprint() == {"categorical_inferred": ["color", "city"]}
    assert sources.summary() == ["columns: numeric x, code; categorical (inferred) color, city"]
    listed = resolve_sources(_csv_data(tmp_path / "k.csv", categorical=["color", "city"]))
    assert listed.fingerprint() == {} and listed.summary() == []


def test_auto_with_stream(tmp_path: Path) -> None:
    data = _csv_data(
        write_text(tmp_path / "k.csv", ROWS), categorical="auto", stream=True, chunk_rows=3
    )
    sources = resolve_sources(data)
    assert sources.main.plan.categorical == {"color", "city"}
    stats, _infos, sizes, _labels, _warnings = scan(data, sources, 0)
    assert sum(sizes.values()) == 8
    assert set(stats.vocab) == {"color", "city"}


@pytest.mark.parametrize("fast", [True, False])
def test_every_text_column_in_one_error(tmp_path: Path, fast: bool) -> None:
    path = write_text(tmp_path / "k.csv", ROWS)
    data = _csv_data(path, chunk_rows=3)
    with pytest.raises(DataError) as err:
        list(resolve_sources(data).main.chunks(data, 0, 3, fast=fast))
    text = str(err.value)
    assert text.startswith(f"{path}:2:3: column 'color' holds text 'red'")
    assert f"so do 'city' ({path}:6:4: 'Paris')" in text
    assert "`categorical: [color, city]`" in text and "`categorical: auto`" in text


def test_auto_is_auto_or_a_list() -> None:
    with pytest.raises(ConfigError):
        _csv_data(Path("k.csv"), categorical="automatic")
