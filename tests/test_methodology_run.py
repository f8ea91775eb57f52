"""Methodology checks at the start of a real run: recorded in run.json, errors when strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datagen import write_classification_csv
from typer.testing import CliRunner

from dltrain.cli import app

runner = CliRunner()

pytestmark = pytest.mark.slow

CONFIG = """\
name: methodology
data: {{kind: csv, path: {path}, target: label, task: {task}}}
model:
  layers:
    - Dense: {{units: {units}, activation: {activation}, kernel_initializer: {{class_name: RandomNormal, config: {{stddev: 40.0, seed: 1}}}}}}
loss: {loss}
training: {{epochs: 1, batch_size: 32, jit_compile: false}}
{extra}"""


def _config(tmp_path: Path, loss: str, extra: str = "", classes: int = 3) -> Path:
    names = ("a", "b", "c")[:classes]
    data = write_classification_csv(tmp_path / "points.csv", classes=names)
    path = tmp_path / "m.yaml"
    task, units, activation = (
        ("multiclass", 3, "softmax") if classes == 3 else ("binary", 1, "sigmoid")
    )
    path.write_text(
        CONFIG.format(
            path=data, loss=loss, extra=extra, task=task, units=units, activation=activation
        )
    )
    return path


def test_findings_are_printed_and_recorded_in_run_json(tmp_path: Path) -> None:
    config = _config(tmp_path, "sparse_categorical_crossentropy")
    runs = tmp_path / "runs"
    done = runner.invoke(app, ["run", str(config), "--runs-dir", str(runs)])
    assert done.exit_code == 0, done.output
    # Huge initial weights: the untrained loss is far above ln 3.
    assert "warning: methodology (first_loss): the untrained model's loss" in done.output
    (run_json,) = runs.glob("methodology/*/run.json")
    recorded = json.loads(run_json.read_text())["methodology"]
    assert [f["check"] for f in recorded] == ["first_loss"]
    assert "ln 3 = 1.1" in recorded[0]["message"]


def test_strict_stops_before_training_with_every_finding(tmp_path: Path) -> None:
    config = _config(tmp_path, "mse", "checks: {strict: true}\n", classes=2)
    runs = tmp_path / "runs"
    done = runner.invoke(app, ["run", str(config), "--runs-dir", str(runs)])
    assert done.exit_code == 2, done.output
    assert "checks.strict: loss_task: output 'dense" in done.output
    assert "a regression loss (mse) on the binary target 'label'" in done.output
    assert not list(runs.glob("methodology/*"))
    checked = runner.invoke(app, ["check", str(config)])
    assert checked.exit_code == 2 and "loss_task" in checked.output
