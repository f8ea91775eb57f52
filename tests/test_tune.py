"""The ``tune:`` section checked against the experiment: models built at the ends of every range
(no training). The checks that need no TensorFlow are in tests/unit/test_tune_space.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tune_configs import GOOD_SPACE, write_tune
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import load_config
from dltrain.errors import ConfigError

runner = CliRunner()


@pytest.mark.slow
def test_cli_reports_bad_space_keys_with_exit_2_before_any_trial(
    tmp_path: Path, regression_csv: Path
) -> None:
    tune = "metric: val_mae\nspace:\n  model.layers[0].Dense.unitz: {type: int, low: 1, high: 2}\n  optimizer.learnig_rate: {type: float, low: 0.1, high: 0.2}\n  training.epoch: {type: int, low: 1, high: 2}\n"
    path = write_tune(tmp_path, regression_csv, tune)
    result = runner.invoke(app, ["tune", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    stderr = result.stderr
    assert "tune.yaml:8:5: tune.space.training.epoch: names no config value: unknown key 'epoch' in training (did you mean 'epochs'?)" in stderr
    # Optimizer and layer arguments are Keras's: building the model finds the misspelling.
    assert "tune.yaml:7:5: tune.space.optimizer.learnig_rate: no value works here: optimizer.learnig_rate: Adam has no argument 'learnig_rate' (did you mean 'learning_rate'?)" in stderr
    assert "tune.yaml:6:5: tune.space.model.layers[0].Dense.unitz: no value works here: model.layers[0].Dense.unitz: Dense has no argument 'unitz' (did you mean 'units'?)" in stderr
    assert "3 problems in the tune section" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_range_ends_grid_and_metric_are_checked_by_building_the_model(
    tmp_path: Path, regression_csv: Path
) -> None:
    from dltrain.tune import check_tune

    tune = """\
metric: val_mea
sampler: grid
space:
  model.layers[1].Dropout.rate: {type: float, low: 0.0, high: 1.5, step: 0.5}
  optimizer.learning_rate: {type: float, low: 1.0e-3, high: 1.0e-2}
  model.layers[0].Dense.activation: {type: categorical, choices: [relu, rleu]}
  training.batch_size: {type: int, low: 0, high: 8}
"""
    path = write_tune(tmp_path, regression_csv, tune)
    with pytest.raises(ConfigError) as info:
        check_tune(load_config(path))
    message = info.value.render()
    assert "tune.yaml:4:3: tune.metric: metric 'val_mea' is never logged (did you mean 'val_mae'?)" in message
    assert "tune.yaml:7:59: tune.space.model.layers[1].Dropout.rate.high: 1.5 does not work here" in message
    assert "Received: rate=1.5" in message  # Keras's own words
    assert "tune.yaml:8:5: tune.space.optimizer.learning_rate: the grid sampler needs a finite set" in message
    assert "tune.yaml:9:75: tune.space.model.layers[0].Dense.activation.choices[1]: 'rleu' does not work here" in message
    assert "unknown activation 'rleu' (did you mean 'relu'?)" in message
    assert "tune.yaml:10:38: tune.space.training.batch_size.low: 0 does not work here" in message
    assert "0.0 does not work" not in message and "'relu' does not work" not in message


@pytest.mark.slow
def test_check_and_schema_cover_the_tune_section(tmp_path: Path, regression_csv: Path) -> None:
    path = write_tune(tmp_path, regression_csv, GOOD_SPACE)
    result = runner.invoke(app, ["check", str(path), "--no-config"])
    assert result.exit_code == 0, result.output
    assert "tune: 5 parameters, minimize val_mae" in result.output

    schema = yaml.safe_load(runner.invoke(app, ["schema"]).output)
    tune = schema["$defs"]["TuneConfig"]
    assert set(tune["properties"]) == {"metric", "direction", "trials", "timeout", "sampler", "pruner", "seeds", "space"}
    assert "FloatParam" in schema["$defs"] and "CategoricalParam" in schema["$defs"]


TUNE_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs" / "tune").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("path", TUNE_CONFIGS, ids=[p.name for p in TUNE_CONFIGS])
def test_shipped_tune_configs_pass_their_checks(path: Path) -> None:
    from dltrain.tune import check_tune

    plan = check_tune(load_config(path))
    assert len(plan.params) >= 3


