"""Text columns and ``data.exclude`` in the CSV readers, before any TensorFlow (no adapt here).

Both readers (pyarrow's fast path and the careful row-by-row one) must agree on what a text
cell holds: ``NA`` is text, an empty cell the empty string unless ``empty: missing``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_text

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.csv.reader import detect_format, iter_chunks
from dltrain.errors import ConfigError, DataError

ROWS = (
    "stars,review,kind,label\n"
    '4,"Great, really great",review,good\n'
    "1,NA,review,bad\n"
    '5,"two\nlines",review,good\n'
    "2,,review,bad\n"
    "3,A plot summary,plot,good\n"
    "2,  dull  ,review,bad\n"
)


def _data(path: Path, **data: Any) -> CsvData:
    body = {
        "data": {
            "kind": "csv",
            "path": str(path),
            "target": "label",
            "task": "binary",
            "features": ["stars", "review"],
            "text": ["review"],
            **data,
        },
        "model": {"layers": ["Flatten"]},
    }
    parsed = config_from_dict(body).config.data
    assert isinstance(parsed, CsvData)
    return parsed


@pytest.mark.parametrize("fast", [True, False])
def test_text_cells_are_kept_as_written_and_excluded_rows_counted(
    tmp_path: Path, fast: bool
) -> None:
    data = _data(write_text(tmp_path / "t.csv", ROWS), exclude={"kind": ["plot"]})
    sources = resolve_sources(data)
    plan = sources.main.plan
    assert plan.numeric == ["stars"] and set(plan.text) == {"review"}
    assert plan.sequences == ["review"] and not plan.joins_group("review")
    parts = list(sources.main.chunks(data, 0, 4, fast=fast))
    texts = np.concatenate([p.text["review"] for p in parts]).tolist()
    assert texts == ["Great, really great", "NA", "two\nlines", "", "dull"]
    assert sum(p.excluded for p in parts) == 1
    # An empty text cell is not a missing value: missing: error lets it through.
    assert sum(p.dropped for p in parts) == 0
    labels = np.concatenate([p.targets["label"] for p in parts]).tolist()
    assert labels == ["good", "bad", "good", "bad", "bad"]


@pytest.mark.parametrize("fast", [True, False])
def test_empty_missing_makes_an_empty_text_cell_a_missing_value(
    tmp_path: Path, fast: bool
) -> None:
    path = write_text(tmp_path / "t.csv", ROWS)
    data = _data(path, text={"review": {"empty": "missing"}}, missing="drop")
    parts = list(resolve_sources(data).main.chunks(data, 0, 100, fast=fast))
    assert sum(p.dropped for p in parts) == 1
    assert "" not in np.concatenate([p.text["review"] for p in parts]).tolist()
    strict = _data(path, text={"review": {"empty": "missing"}})
    with pytest.raises(DataError, match=r"t\.csv:6:2: column 'review' is empty"):
        list(resolve_sources(strict).main.chunks(strict, 0, 100, fast=False))


def test_a_record_spanning_lines_is_located_at_its_first_line(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", ROWS)
    (chunk,) = iter_chunks(path, detect_format(path, None, None, None), 100)
    assert chunk.lines == [2, 3, 4, 6, 7, 8]


def test_text_settings_are_checked(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", ROWS)
    with pytest.raises(ConfigError, match="text columns need the in-memory loader"):
        _data(path, stream=True)
    with pytest.raises(ConfigError, match="output_mode"):
        _data(path, text={"review": {"output_mode": "bag"}})
    with pytest.raises(DataError, match="listed as text and as categorical") as both:
        resolve_sources(_data(path, categorical=["review"]))
    assert both.value.key == ("data", "categorical", 0)
    with pytest.raises(DataError, match="no feature column 'reviw'.*did you mean 'review'"):
        resolve_sources(_data(path, text=["reviw"]))
    with pytest.raises(DataError, match="no column 'knd'") as unknown:
        resolve_sources(_data(path, exclude={"knd": ["plot"]}))
    assert unknown.value.key == ("data", "exclude", "knd")


def test_auto_leaves_text_columns_to_text(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", ROWS)
    data = _data(path, categorical="auto", features=None, exclude={"kind": ["plot"]})
    plan = resolve_sources(data).main.plan
    assert plan.categorical == {"kind"} and set(plan.text) == {"review"}
    assert plan.numeric == ["stars"]
