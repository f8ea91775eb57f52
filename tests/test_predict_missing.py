"""``predict`` handles empty cells as training did (mean / drop / error), and names its rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_mnist_idx_dir, write_mnist_npz, write_regression_csv, write_text

from dltrain.config import config_from_dict
from dltrain.config.schema import ExperimentConfig
from dltrain.data import DataSpec, load_datasets, load_prediction_inputs
from dltrain.errors import DataError

pytest.importorskip("tensorflow")

NEW = "x1,color,x2\n1.5,red,\n,blue,2.0\n2.0,,1.0\n3.0,green,4.0\n"
"""Lines 2-4 each have one empty feature cell; line 5 is complete."""


def _config(path: Path, missing: str) -> ExperimentConfig:
    data = {
        "kind": "csv",
        "path": str(path),
        "target": "y",
        "categorical": ["color"],
        "missing": missing,
    }
    return config_from_dict({"data": data, "model": {"layers": ["Flatten"]}}).config


def _inputs(tmp_path: Path, missing: str) -> tuple[Any, DataSpec]:
    train = write_regression_csv(tmp_path / "train.csv", n=80, missing=True)
    cfg = _config(train, missing)
    spec = DataSpec.from_json(load_datasets(cfg).spec.to_json())  # as predict reads it back
    return load_prediction_inputs(cfg, spec, write_text(tmp_path / "new.csv", NEW)), spec


def test_mean_fills_with_the_saved_training_values(tmp_path: Path) -> None:
    inputs, spec = _inputs(tmp_path, "mean")
    assert set(spec.fill) == {"x1", "x2", "color"}
    x = next(iter(inputs.dataset))
    features = x["features"].numpy()
    np.testing.assert_allclose(features[:, 0], [1.5, spec.fill["x1"], 2.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(features[:, 1], [spec.fill["x2"], 2.0, 1.0, 4.0], rtol=1e-6)
    colors = [c.decode() for c in x["color"].numpy().reshape(-1)]
    assert colors == ["red", "blue", spec.fill["color"], "green"]  # not the unknown slot
    assert inputs.numbers == [2, 3, 4, 5] and inputs.notes == []


def test_drop_leaves_out_only_those_rows_and_names_them(tmp_path: Path) -> None:
    inputs, spec = _inputs(tmp_path, "drop")
    assert spec.fill == {}
    assert inputs.count == 1 and inputs.numbers == [5]
    np.testing.assert_allclose(next(iter(inputs.dataset))["features"].numpy(), [[3.0, 4.0]])
    (note,) = inputs.notes
    assert "3 rows not predicted" in note and "2 (x2), 3 (x1), 4 (color)" in note


def test_drop_with_every_row_empty_is_an_error(tmp_path: Path) -> None:
    train = write_regression_csv(tmp_path / "train.csv", n=80)
    cfg = _config(train, "drop")
    spec = load_datasets(cfg).spec
    empty = write_text(tmp_path / "e.csv", "x1,color,x2\n1,red,\n")
    with pytest.raises(DataError, match="every row has an empty cell"):
        load_prediction_inputs(cfg, spec, empty)


def test_error_refuses_an_empty_category_too(tmp_path: Path) -> None:
    train = write_regression_csv(tmp_path / "train.csv", n=80)
    cfg = _config(train, "error")
    spec = load_datasets(cfg).spec
    new = write_text(tmp_path / "n.csv", "x1,color,x2\n1,red,2\n1,,2\n")
    with pytest.raises(DataError, match=r"n.csv:3:2: column 'color' is empty; .*missing: error"):
        load_prediction_inputs(cfg, spec, new)


def test_mean_fills_are_counted_per_column_in_the_warnings(tmp_path: Path) -> None:
    train = write_regression_csv(tmp_path / "train.csv", n=80, missing=True)
    text = train.read_text().splitlines()
    text[3] = text[3].replace(",red,", ",,").replace(",green,", ",,").replace(",blue,", ",,")
    train.write_text("\n".join(text) + "\n")
    for stream in (False, True):
        cfg = _config(train, "mean").model_copy()
        cfg.data.stream = stream  # type: ignore[union-attr]
        warnings = load_datasets(cfg).warnings
        (fill,) = [w for w in warnings if "filled" in w]
        # write_regression_csv empties x1 in rows 5, 42 and 79 (every 37th from 5).
        assert "4 empty cells filled" in fill and "x1 3, color 1" in fill, stream


def test_images_say_which_split_they_predict(tmp_path: Path) -> None:
    npz = write_mnist_npz(tmp_path / "m.npz", n_train=10, n_test=6)
    cfg = config_from_dict(
        {"data": {"kind": "mnist", "path": str(npz)}, "model": {"layers": ["Flatten"]}}
    ).config
    spec = load_datasets(cfg).spec
    inputs = load_prediction_inputs(cfg, spec, npz)
    assert inputs.notes == [f"{npz}: the test split (x_test), 6 images"]
    assert inputs.numbers == [1, 2, 3, 4, 5, 6]
    folder = write_mnist_idx_dir(tmp_path / "idx", 4, 3, gz=False)
    inputs = load_prediction_inputs(cfg, spec, folder)
    assert inputs.notes == [f"{folder}: the test split (t10k-images-idx3-ubyte), 3 images"]


def test_spec_fill_round_trips(tmp_path: Path) -> None:
    _, spec = _inputs(tmp_path, "mean")
    again = DataSpec.from_json(spec.to_json())
    assert again.fill == spec.fill and json.loads(spec.to_json())["fill"]["color"]
