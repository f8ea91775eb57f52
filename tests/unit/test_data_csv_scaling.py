"""``data.target_scaling``: the config, the training statistics of both loaders, and the
``log`` refusal of values <= 0 at file:row:col (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_regression_csv, write_text

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData
from dltrain.data.csv.arrays import load_csv_arrays
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.csv.stats import TRAIN, split_codes
from dltrain.data.csv.stream import scan
from dltrain.data.spec import DataSpec
from dltrain.errors import ConfigError, DataError


def _csv_data(**data: Any) -> CsvData:
    body = {"data": {"kind": "csv", **data}, "model": {"layers": ["Flatten"]}}
    parsed = config_from_dict(body).config.data
    assert isinstance(parsed, CsvData)
    return parsed


def _two_targets(tmp_path: Path, n: int = 200) -> Path:
    """``price`` (positive, skewed), ``size`` (any sign) and a class ``kind``."""
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, n)
    price = np.exp(12 + 0.3 * x + rng.normal(0, 0.1, n))
    size = 3 * x + rng.normal(0, 1, n)
    kind = np.where(x > 0, "big", "small")
    lines = ["x,price,size,kind"] + [
        f"{x[i]:.4f},{price[i]:.2f},{size[i]:.4f},{kind[i]}" for i in range(n)
    ]
    return write_text(tmp_path / "t.csv", "\n".join(lines) + "\n")


def test_modes_and_mappings_are_checked_by_the_schema() -> None:
    assert _csv_data(path="a.csv", target="y").target_scaling == "none"
    assert _csv_data(path="a.csv", target="y", target_scaling="log").target_scaling == "log"
    mapping = _csv_data(path="a.csv", target="y", target_scaling={"y": "standard"})
    assert mapping.target_scaling == {"y": "standard"}
    with pytest.raises(ConfigError) as err:
        _csv_data(path="a.csv", target="y", target_scaling="minmax")
    assert "target_scaling" in str(err.value)


def test_a_mapping_names_regression_targets_only(tmp_path: Path) -> None:
    path = str(_two_targets(tmp_path))
    targets = ["price", "size", "kind"]
    task = {"price": "regression", "size": "regression", "kind": "binary"}
    with pytest.raises(DataError) as err:
        _load(path=path, target=targets, task=task, target_scaling={"prise": "log"})
    assert err.value.key == ("data", "target_scaling", "prise")
    assert "'prise'" in str(err.value) and "price" in str(err.value)
    with pytest.raises(DataError) as err:
        _load(path=path, target=targets, task=task, target_scaling={"kind": "standard"})
    assert err.value.key == ("data", "target_scaling", "kind")
    assert "binary target" in str(err.value)


def _load(seed: int = 0, **data: Any) -> Any:
    csv = _csv_data(**data)
    return load_csv_arrays(csv, resolve_sources(csv), seed)


def test_statistics_come_from_training_rows_and_both_loaders_agree(tmp_path: Path) -> None:
    path = _two_targets(tmp_path)
    data: dict[str, Any] = {
        "path": str(path),
        "target": ["price", "size", "kind"],
        "task": {"price": "regression", "size": "regression", "kind": "binary"},
        "target_scaling": {"price": "log", "size": "standard"},
        "chunk_rows": 37,
    }
    loaded = _load(seed=3, **data)
    infos = {t.name: t for t in loaded.spec.targets}
    assert infos["kind"].scale is None
    raw = np.genfromtxt(path, delimiter=",", names=True, dtype=None, encoding="utf-8")
    train = split_codes(0, len(raw), 3, 0.2, 0.2) == TRAIN
    log_price = np.log(raw["price"][train])
    mode, mean, std = infos["price"].scale or ("", 0.0, 0.0)
    assert mode == "log"
    assert mean == pytest.approx(log_price.mean(), rel=1e-9)
    assert std == pytest.approx(log_price.std(), rel=1e-6)
    assert infos["size"].scale == pytest.approx(
        ("standard", raw["size"][train].mean(), raw["size"][train].std())
    )

    # The streaming pass computes the same, chunk by chunk.
    csv = _csv_data(**data, stream=True)
    _, streamed, *_ = scan(csv, resolve_sources(csv), 3)
    for info in streamed:
        memory = infos[info.name].scale
        if memory is None:
            assert info.scale is None
            continue
        assert info.scale is not None and info.scale[0] == memory[0]
        assert info.scale[1:] == pytest.approx(memory[1:], rel=1e-9)

    # data_spec.json keeps the scale.
    back = DataSpec.from_json(loaded.spec.to_json())
    assert [t.scale for t in back.targets] == [t.scale for t in loaded.spec.targets]


def test_one_mode_scales_every_regression_target_and_no_other(tmp_path: Path) -> None:
    path = str(_two_targets(tmp_path))
    loaded = _load(
        path=path,
        target=["size", "kind"],
        task={"size": "regression", "kind": "binary"},
        features=["x"],
        target_scaling="standard",
    )
    assert [t.scale is not None for t in loaded.spec.targets] == [True, False]
    none = _load(path=path, target="size", features=["x"])
    assert none.spec.targets[0].scale is None


@pytest.mark.parametrize("stream", [False, True])
def test_log_refuses_a_value_at_or_below_zero_at_its_cell(tmp_path: Path, stream: bool) -> None:
    csv = write_regression_csv(tmp_path / "r.csv", n=120)
    lines = csv.read_text().splitlines()
    cells = lines[90].split(",")
    lines[90] = ",".join([*cells[:-1], "0"])  # the 90th data row, line 91, column 4
    cells = lines[100].split(",")
    lines[100] = ",".join([*cells[:-1], "-3.5"])
    csv.write_text("\n".join(lines) + "\n")
    data = CsvData.model_validate(
        {
            "kind": "csv",
            "path": str(csv),
            "target": "y",
            "categorical": ["color"],
            "target_scaling": "log",
            "stream": stream,
            "chunk_rows": 32,
        }
    )
    with pytest.raises(DataError) as err:
        if stream:
            scan(data, resolve_sources(data), 0)
        else:
            load_csv_arrays(data, resolve_sources(data), 0)
    message = str(err.value)
    assert message.startswith(f"{csv}:91:4: column 'y' holds 0; target_scaling: log")
    # Standard scaling takes any sign; so does log once the row is excluded.
    assert _load(path=str(csv), target="y", categorical=["color"], target_scaling="standard")
    excluded = _load(
        path=str(csv),
        target="y",
        categorical=["color"],
        target_scaling="log",
        limit=99,
        exclude={"y": ["0"]},
    )
    assert excluded.spec.targets[0].scale is not None
    with pytest.raises(DataError) as err:
        _load(path=str(csv), target="y", categorical=["color"], target_scaling="log",
              exclude={"y": ["0"]})
    assert str(err.value).startswith(f"{csv}:101:4: column 'y' holds -3.5")
