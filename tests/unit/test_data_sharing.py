"""``sharing_datasets``: which configs share one data load (the loader is faked: no TensorFlow)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from tune_configs import BASE

from dltrain.config import load_config
from dltrain.config.schema import ExperimentConfig
from dltrain.data import Datasets, DataSpec, load_datasets
from dltrain.data.sharing import sharing_datasets
from dltrain.errors import DataError

load_module = importlib.import_module("dltrain.data.load")


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[ExperimentConfig]:
    """Every config the data stage really loaded, in order."""
    seen: list[ExperimentConfig] = []

    def fake_load(config: ExperimentConfig, test_path: Path | None) -> Datasets:
        seen.append(config)
        return Datasets(
            spec=DataSpec(kind="csv", raw_inputs=[], model_inputs=[], targets=[]), train_size=100, validation_size=20,
            test_size=20, fingerprint={"load": len(seen)}, batch_size=32, warnings=["w"],
        )

    monkeypatch.setattr(load_module, "_load", fake_load)
    return seen


@pytest.fixture
def experiment(tmp_path: Path, regression_csv: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(BASE.format(csv=regression_csv))
    return path


def config(path: Path, *overrides: str) -> ExperimentConfig:
    return load_config(path, list(overrides)).config


def test_configs_with_the_same_data_and_seed_share_the_first_load(
    experiment: Path, loads: list[ExperimentConfig]
) -> None:
    with sharing_datasets() as share:
        first = load_datasets(config(experiment))
        again = load_datasets(config(experiment, "optimizer.learning_rate=0.1", "model.layers[0].Dense.units=3"))
        batch = load_datasets(config(experiment, "training.batch_size=16"))
        full = load_datasets(config(experiment, "training.batch_size=full"))
        with sharing_datasets() as inner:  # a block inside shares the outer block's data
            inside = load_datasets(config(experiment))
    assert len(loads) == 1 and inner is share
    assert share.loads == 1 and share.reuses == 4
    assert {d.fingerprint["load"] for d in (first, again, batch, full, inside)} == {1}
    assert again.source is first.source and again.spec is first.spec  # the same arrays
    # The batch size is the one config value besides data and seed that Datasets carries.
    assert (first.batch_size, again.batch_size, batch.batch_size, full.batch_size) == (32, 32, 16, 100)
    again.warnings.append("only mine")
    assert first.warnings == ["w"]
    assert share.datasets is None  # the block's end lets the data go


@pytest.mark.parametrize(
    "override", ["data.validation=0.25", "data.categorical=[]", "seed=4", "data.limit=50"]
)
def test_other_data_or_another_seed_loads_its_own(
    experiment: Path, loads: list[ExperimentConfig], override: str
) -> None:
    with sharing_datasets() as share:
        first = load_datasets(config(experiment))
        other = load_datasets(config(experiment, override))
        other_again = load_datasets(config(experiment, override))
        base_again = load_datasets(config(experiment))
    assert len(loads) == 3 and share.loads == 3 and share.reuses == 1
    assert other.fingerprint["load"] == 2 and other_again.fingerprint["load"] == 3  # not kept
    assert base_again.fingerprint == first.fingerprint


def test_without_a_block_every_load_reads_the_data(experiment: Path, loads: list[ExperimentConfig]) -> None:
    load_datasets(config(experiment))
    load_datasets(config(experiment))
    assert len(loads) == 2


def test_a_shared_load_checks_the_batch_size_as_a_load_would(
    experiment: Path, loads: list[ExperimentConfig]
) -> None:
    shared = config(experiment)
    with sharing_datasets():
        load_datasets(shared)
        bad = config(experiment)
        bad.training.batch_size = 0  # the schema refuses it; a plugin's config might not
        with pytest.raises(DataError, match="training.batch_size must be positive"):
            load_datasets(bad)
