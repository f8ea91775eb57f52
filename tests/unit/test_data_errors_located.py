"""Data errors about a config value name the config file and line it was written at.

No TensorFlow: the CSV sources and MNIST file lookup are checked directly, as
``load_datasets(config, source=loaded.source)`` does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from datagen import write_regression_csv

from dltrain.config import LoadedConfig, load_config
from dltrain.config.schema import CsvData, MnistData
from dltrain.data.config_keys import locate
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.mnist import load_mnist
from dltrain.errors import DataError


def _config(tmp_path: Path, data: str) -> LoadedConfig:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: exp\ndata:\n" + textwrap.indent(textwrap.dedent(data), "  ")
        + "model:\n  layers: [{Dense: {units: 1}}]\n"
    )
    return load_config(path)


def _csv_error(loaded: LoadedConfig) -> str:
    assert isinstance(loaded.config.data, CsvData)
    with pytest.raises(DataError) as info:
        resolve_sources(loaded.config.data)
    return locate(info.value, loaded.source).render()


def test_wrong_csv_path_names_the_config_line(tmp_path: Path) -> None:
    loaded = _config(tmp_path, "kind: csv\npath: nope.csv\ntarget: y\n")
    message = _csv_error(loaded)
    assert message.startswith(f"{tmp_path / 'exp.yaml'}:4:3: data.path: "), message
    assert f"{tmp_path / 'nope.csv'}: file not found" in message


def test_unknown_target_names_the_config_line(tmp_path: Path) -> None:
    write_regression_csv(tmp_path / "r.csv", n=20)
    loaded = _config(tmp_path, "kind: csv\npath: r.csv\ntarget: [y, Y2]\n")
    message = _csv_error(loaded)
    assert message.startswith(f"{tmp_path / 'exp.yaml'}:5:"), message
    assert "data.target[1]: no column 'Y2'" in message and str(tmp_path / "r.csv") in message


def test_unknown_feature_and_test_file(tmp_path: Path) -> None:
    write_regression_csv(tmp_path / "r.csv", n=20)
    loaded = _config(tmp_path, "kind: csv\npath: r.csv\ntarget: y\nfeatures: [x1, colour]\n")
    message = _csv_error(loaded)
    assert f"{tmp_path / 'exp.yaml'}:6:" in message
    assert "data.features[1]: no column 'colour' (did you mean 'color'?)" in message
    loaded = _config(tmp_path, "kind: csv\ntrain_path: r.csv\ntest_path: gone.csv\ntarget: y\n")
    message = _csv_error(loaded)
    assert message.startswith(f"{tmp_path / 'exp.yaml'}:5:3: data.test_path: "), message


def test_wrong_mnist_path_names_the_config_line(tmp_path: Path) -> None:
    loaded = _config(tmp_path, "kind: fashion_mnist\npath: missing/\n")
    assert isinstance(loaded.config.data, MnistData)
    with pytest.raises(DataError) as info:
        load_mnist(loaded.config.data)
    message = locate(info.value, loaded.source).render()
    assert message.startswith(f"{tmp_path / 'exp.yaml'}:4:3: data.path: "), message


def test_without_a_source_the_key_is_still_named(tmp_path: Path) -> None:
    data = CsvData(kind="csv", path=str(tmp_path / "nope.csv"), target="y")
    with pytest.raises(DataError) as info:
        resolve_sources(data)
    assert locate(info.value, None) is info.value
    assert info.value.render().startswith("data.path: ")
