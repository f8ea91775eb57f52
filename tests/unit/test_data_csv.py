"""CSV parsing, splitting, statistics and every located error (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_classification_csv, write_regression_csv, write_text

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData
from dltrain.data.csv.arrays import LoadedArrays, load_csv_arrays
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.csv.reader import detect_format
from dltrain.data.csv.stats import TEST, TRAIN, VALIDATION, split_codes
from dltrain.errors import DataError


def _csv_data(**data: Any) -> CsvData:
    body = {"data": {"kind": "csv", **data}, "model": {"layers": ["Flatten"]}}
    parsed = config_from_dict(body).config.data
    assert isinstance(parsed, CsvData)
    return parsed


def _load(seed: int = 0, override: Path | None = None, **data: Any) -> LoadedArrays:
    csv = _csv_data(**data)
    return load_csv_arrays(csv, resolve_sources(csv, override), seed)


def _error(**data: Any) -> str:
    with pytest.raises(DataError) as err:
        _load(**data)
    return str(err.value)


# ------------------------------------------------------------------------ layout


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiter_sniffed(tmp_path: Path, delimiter: str) -> None:
    rows = ["a", "b", "y"], ["1.5", "x", "2"], ["2.5", "z", "3"]
    path = write_text(tmp_path / "d.csv", "\n".join(delimiter.join(r) for r in rows) + "\n")
    fmt = detect_format(path, None, None)
    assert fmt.delimiter == delimiter and fmt.header and fmt.columns == ("a", "b", "y")


def test_no_header_detected_gives_c_names(tmp_path: Path) -> None:
    path = write_text(tmp_path / "n.csv", "1,2,3\n4,5,6\n7,8,9\n")
    fmt = detect_format(path, None, None)
    assert not fmt.header and fmt.columns == ("c0", "c1", "c2")
    loaded = _load(path=str(path), target="c2", test=0.3, validation=None)
    assert sum(len(s) for s in loaded.splits.values()) == 3


def test_header_forced_and_bom(tmp_path: Path) -> None:
    path = write_text(tmp_path / "b.csv", "\ufeffa,b\n1,2\n3,4\n")
    assert detect_format(path, None, True).columns == ("a", "b")


# --------------------------------------------------------------------- file errors


def test_missing_empty_and_header_only_files(tmp_path: Path) -> None:
    assert "file not found" in _error(path=str(tmp_path / "nope.csv"), target="y")
    empty = write_text(tmp_path / "empty.csv", "\n\n")
    assert f"{empty}: the file is empty" in _error(path=str(empty), target="y")
    header = write_text(tmp_path / "h.csv", "a,b,y\n")
    assert f"{header}: has a header row but no data rows" in _error(path=str(header), target="y")


def test_missing_target_and_feature_suggest(regression_csv: Path) -> None:
    text = _error(path=str(regression_csv), target="Y1")
    assert "data.target: no column 'Y1'" in text and "x1, x2, color, y" in text
    text = _error(path=str(regression_csv), target="y", features=["x1", "colour"])
    assert "data.features[1]: no column 'colour' (did you mean 'color'?)" in text
    text = _error(path=str(regression_csv), target="y", categorical=["colr"])
    assert "data.categorical[0]: no column 'colr' (did you mean 'color'?)" in text


def test_text_in_numeric_column_is_located(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", "a,b,y\n1,2,3\n4,5,6\n7,oops,9\n")
    text = _error(path=str(path), target="y")
    assert text.startswith(f"{path}:4:2: column 'b' holds text 'oops'")
    assert "add the column to data.categorical" in text


def test_regression_target_with_text(tmp_path: Path) -> None:
    path = write_text(tmp_path / "t.csv", "a,y\n1,2\n3,cat\n")
    assert f"{path}:3:2: column 'y' holds text 'cat'" in _error(path=str(path), target="y")


def test_ragged_row(tmp_path: Path) -> None:
    path = write_text(tmp_path / "r.csv", "a,b,y\n1,2,3\n4,5\n")
    assert f"{path}:3: row has 2 fields, the header has 3" in _error(path=str(path), target="y")


def test_empty_cell_error_suggests_missing_option(regression_csv: Path) -> None:
    path = write_regression_csv(regression_csv, missing=True)
    text = _error(path=str(path), target="y", categorical=["color"])
    # Data row 5 (0-based) is line 7 of the file; x1 is column 1.
    assert text.startswith(f"{path}:7:1: column 'x1' is empty")
    assert "set data.missing to drop" in text and "mean" in text


def test_all_missing_column_is_an_error(tmp_path: Path) -> None:
    path = write_text(tmp_path / "m.csv", "a,b,y\n1,,3\n4,,6\n5,,7\n")
    text = _error(path=str(path), target="y", missing="mean")
    assert "column 'b' has no values (all 3 rows are empty)" in text


def test_single_class_and_binary_class_count(tmp_path: Path) -> None:
    one = write_text(tmp_path / "one.csv", "a,y\n1,x\n2,x\n3,x\n")
    assert "target 'y' has a single class 'x'" in _error(
        path=str(one), target="y", task="multiclass"
    )
    cls = write_classification_csv(tmp_path / "c.csv", n=60)
    text = _error(path=str(cls), target="label", task="binary")
    assert "is binary but has 3 classes (a, b, c); set data.task to multiclass" in text


def test_task_mapping_must_cover_targets(classification_csv: Path) -> None:
    text = _error(
        path=str(classification_csv),
        target=["label", "f2"],
        features=["f1"],
        task={"label": "multiclass"},
    )
    assert "no task given for target(s) f2" in text


def test_empty_split_is_explained(tmp_path: Path) -> None:
    path = write_text(tmp_path / "s.csv", "a,y\n1,2\n2,3\n")
    assert "split is empty" in _error(path=str(path), target="y", test=0.1)


# ------------------------------------------------------------ splits and encoding


def test_split_codes_deterministic_and_proportional() -> None:
    codes = split_codes(0, 20000, 7, 0.2, 0.25)
    again = np.concatenate(
        [split_codes(0, 5000, 7, 0.2, 0.25), split_codes(5000, 15000, 7, 0.2, 0.25)]
    )
    np.testing.assert_array_equal(codes, again)
    share = np.bincount(codes, minlength=3) / 20000
    assert share[TEST] == pytest.approx(0.2, abs=0.02)
    assert share[VALIDATION] == pytest.approx(0.8 * 0.25, abs=0.02)
    assert share[TRAIN] == pytest.approx(0.6, abs=0.02)
    assert not np.array_equal(codes, split_codes(0, 20000, 8, 0.2, 0.25))


def test_stats_from_training_split_only(regression_csv: Path) -> None:
    loaded = _load(path=str(regression_csv), target="y", categorical=["color"])
    train = loaded.splits["train"].x["features"]
    np.testing.assert_allclose(loaded.stats.mean["x1"], train[:, 0].mean(), rtol=1e-5)
    np.testing.assert_allclose(loaded.stats.variance["x2"], train[:, 1].var(), rtol=1e-4)
    everything = np.concatenate([s.x["features"] for s in loaded.splits.values()])
    assert loaded.stats.mean["x1"] != pytest.approx(everything[:, 0].mean(), rel=1e-7)
    assert loaded.stats.vocab["color"] == ("blue", "green", "red")
    spec = loaded.spec
    assert [(i.name, i.shape, i.dtype, i.columns) for i in spec.raw_inputs] == [
        ("features", (2,), "float32", ("x1", "x2")),
        ("color", (1,), "string", ("color",)),
    ]
    assert [(i.name, i.shape) for i in spec.model_inputs] == [("features", (6,))]


def test_missing_drop_and_mean(regression_csv: Path) -> None:
    path = write_regression_csv(regression_csv, missing=True)
    dropped = _load(path=str(path), target="y", categorical=["color"], missing="drop")
    assert sum(len(s) for s in dropped.splits.values()) == 300 - 8
    assert any("8 rows with an empty cell left out" in w for w in dropped.warnings)
    filled = _load(path=str(path), target="y", categorical=["color"], missing="mean")
    assert sum(len(s) for s in filled.splits.values()) == 300
    x = np.concatenate([s.x["features"] for s in filled.splits.values()])
    assert not np.isnan(x).any()
    assert np.isclose(x[:, 0], filled.stats.mean["x1"]).sum() >= 8


def test_constant_column_warns(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},7,{i % 2}" for i in range(40))
    path = write_text(tmp_path / "c.csv", "a,const,y\n" + rows + "\n")
    loaded = _load(path=str(path), target="y", task="binary")
    assert any("column 'const' is constant (7)" in w for w in loaded.warnings)


def test_targets_binary_multiclass_one_hot_and_several(
    classification_csv: Path, tmp_path: Path
) -> None:
    loaded = _load(path=str(classification_csv), target="label", task="multiclass", one_hot=True)
    target = loaded.spec.targets[0]
    assert target.class_names == ("a", "b", "c") and target.one_hot and target.units == 3
    train = loaded.splits["train"]
    assert train.y[0].shape == (len(train), 3)
    np.testing.assert_array_equal(train.y[0].argmax(1), train.labels[0])
    rows = "\n".join(f"{i},{i * 0.5},{'yes' if i % 3 else 'no'},{i % 4}.0" for i in range(80))
    path = write_text(tmp_path / "m.csv", "a,r,b,k\n" + rows + "\n")
    loaded = _load(
        path=str(path),
        target=["r", "b", "k"],
        task={"r": "regression", "b": "binary", "k": "multiclass"},
    )
    r, b, k = loaded.spec.targets
    assert (r.units, b.class_names, k.class_names) == (1, ("no", "yes"), ("0", "1", "2", "3"))
    y = loaded.splits["train"].y
    assert y[0].shape[1] == 1 and set(np.unique(y[1])) <= {0.0, 1.0} and y[2].dtype == np.int32


def test_train_and_test_files_and_feature_groups(tmp_path: Path) -> None:
    train = write_regression_csv(tmp_path / "train.csv", n=100, seed=1)
    test = write_regression_csv(tmp_path / "test.csv", n=30, seed=2)
    loaded = _load(
        train_path=str(train),
        test_path=str(test),
        target="y",
        categorical=["color"],
        feature_groups={"a": ["x1"], "b": ["x2", "color"]},
    )
    assert len(loaded.splits["test"]) == 30
    assert len(loaded.splits["train"]) + len(loaded.splits["validation"]) == 100
    names = [(i.name, i.shape) for i in loaded.spec.raw_inputs]
    assert names == [("a", (1,)), ("b", (1,)), ("color", (1,))]
    assert [(i.name, i.shape) for i in loaded.spec.model_inputs] == [("a", (1,)), ("b", (5,))]


def test_test_file_with_missing_column(tmp_path: Path) -> None:
    train = write_regression_csv(tmp_path / "train.csv", n=50)
    test = write_text(tmp_path / "test.csv", "x1,x3,color,y\n1,2,red,3\n")
    text = _error(train_path=str(train), test_path=str(test), target="y", categorical=["color"])
    assert f"{test}: no column 'x2'" in text and "this file has x1, x3, color, y" in text


def test_limit_and_seed(regression_csv: Path) -> None:
    loaded = _load(path=str(regression_csv), target="y", categorical=["color"], limit=50)
    assert sum(len(s) for s in loaded.splits.values()) == 50
    a = _load(seed=1, path=str(regression_csv), target="y", categorical=["color"])
    b = _load(seed=1, path=str(regression_csv), target="y", categorical=["color"])
    np.testing.assert_array_equal(a.splits["test"].x["features"], b.splits["test"].x["features"])


# ------------------------------------------------------------------ decimal commas
SEMICOLON_COMMAS = "temp;rain;city;y\n29,1;0,5;Lyon;1\n-3,25;12;Oslo;0\n18;1,75;Lyon;1\n21,5;;Oslo;0\n"


def test_decimal_comma_is_detected_with_semicolons(tmp_path: Path) -> None:
    path = write_text(tmp_path / "weather.csv", SEMICOLON_COMMAS)
    fmt = detect_format(path, None, None)
    assert (fmt.delimiter, fmt.decimal, fmt.header) == (";", ",", True)
    csv = _csv_data(path=str(path), target="y", categorical=["city"], validation=None,
                    missing="mean", test=0.5)
    (prepared,) = list(resolve_sources(csv).main.chunks(csv, 0, 100))
    temps = sorted(round(float(v), 4) for v in prepared.numeric["temp"])
    assert temps == [-3.25, 18.0, 21.5, 29.1]
    rain = prepared.numeric["rain"]
    assert sorted(round(float(v), 4) for v in rain if v == v) == [0.5, 1.75, 12.0]


def test_decimal_option_and_points_stay_points(tmp_path: Path) -> None:
    points = write_text(tmp_path / "p.csv", "a;y\n1.5;2\n2,5;3\n")
    assert detect_format(points, None, None).decimal == "."  # a point number: not obvious
    assert detect_format(points, None, None, ",").decimal == ","
    commas = write_text(tmp_path / "c.csv", "a,y\n1,2\n3,4\n")
    assert detect_format(commas, None, None).decimal == "."  # comma-separated: never


def test_decimal_comma_text_gets_the_decimal_hint(tmp_path: Path) -> None:
    path = write_text(tmp_path / "weather.csv", SEMICOLON_COMMAS)
    text = _error(path=str(path), target="y", categorical=["city"], decimal=".", test=0.5,
                  missing="mean")
    assert f"{path}:2:1: column 'temp' holds text '29,1'" in text
    assert "set data.decimal to ','" in text and "data.categorical" not in text
