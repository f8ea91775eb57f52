"""Plugins with Keras: registered objects by name, ``callbacks.extra``, the example plugin."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dltrain
from dltrain import plugins
from dltrain.cli import app

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin"

OBJECTS = '''
import keras
import numpy as np
from pydantic import BaseModel

import dltrain
from dltrain.data import datasets_from_arrays


@keras.saving.register_keras_serializable(package="tp_objects")
def softer_relu(x):
    return keras.ops.softplus(x)


@keras.saving.register_keras_serializable(package="tp_objects")
class HalfSquaredError(keras.losses.Loss):
    def call(self, y_true, y_pred):
        return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="tp_objects")
class MeanPrediction(keras.metrics.Mean):
    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_pred)


class LineData(BaseModel):
    examples: int = 48


@dltrain.register_dataset("tp_line", config=LineData)
def load_line(section, config, test_path):
    x = np.linspace(-1, 1, section.examples, dtype="float32")[:, None]
    return datasets_from_arrays(
        config, {"train": (x, 2 * x[:, 0]), "test": (x, 2 * x[:, 0])}, task="regression"
    )
'''

CONFIG = """\
imports: [tp_objects]
data: {kind: tp_line}
model:
  layers:
    - Dense: {units: 4, activation: softer_relu}
    - Dense: {units: 1}
loss: HalfSquaredError
metrics: [tp_objects>MeanPrediction]
training: {epochs: 1, batch_size: 16}
output: {plots: false}
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder holding the ``tp_objects`` plugin; its dataset kind is unregistered after."""
    (tmp_path / "tp_objects.py").write_text(OBJECTS)
    kinds = dict(plugins._KINDS)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    plugins._KINDS.clear()
    plugins._KINDS.update(kinds)
    sys.modules.pop("tp_objects", None)  # the next test's import registers again


def test_registered_loss_metric_and_activation_by_name(plugin_dir: Path) -> None:
    from dltrain.model import load_model_file

    config = plugin_dir / "exp.yaml"
    config.write_text(CONFIG)
    result = dltrain.run(str(config), runs_dir=plugin_dir / "runs")
    assert result.status == "completed"
    assert "mean" in result.test_metrics  # MeanPrediction keeps Mean's name
    # safe_mode=True loads registered functions and classes.
    model = load_model_file(result.run_dir / "checkpoints" / "best.keras")
    assert model.layers[0].activation.__name__ == "softer_relu"
    assert type(model.loss).__name__ == "HalfSquaredError"

    config.write_text(CONFIG.replace("activation: softer_relu", "activation: softer_relu2"))
    bad = runner.invoke(app, ["check", str(config)])
    assert bad.exit_code == 2
    assert "exp.yaml:5:25: model.layers[0].Dense.activation: unknown activation" in bad.output
    assert "did you mean 'softer_relu'?" in bad.output


def test_unknown_and_misconfigured_extra_callbacks(plugin_dir: Path) -> None:
    config = plugin_dir / "exp.yaml"
    config.write_text(
        CONFIG
        + "callbacks:\n  extra:\n"
        + "    - CSVLoger: {filename: log.csv}\n"
        + "    - CSVLogger: {filenme: log.csv}\n"
        + "    - ReduceLROnPlateau: {factor: 2.0}\n"
    )
    result = runner.invoke(app, ["run", str(config), "--runs-dir", str(plugin_dir / "runs")])
    assert result.exit_code == 2
    out = result.output
    assert "exp.yaml:13:7: callbacks.extra[0].CSVLoger: unknown callback 'CSVLoger' (did you " \
        "mean 'CSVLogger'?)" in out
    assert "exp.yaml:14:19: callbacks.extra[1].CSVLogger.filenme: CSVLogger has no argument " \
        "'filenme' (did you mean 'filename'?)" in out
    assert "exp.yaml:15:7: callbacks.extra[2].ReduceLROnPlateau" in out
    assert "does not support a factor >= 1.0" in out  # Keras's own reason
    assert not list(plugin_dir.rglob("run.json"))  # found before any run folder


def _dltrain(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "dltrain", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.slow
def test_example_plugin_trains_evaluates_predicts_and_resumes(tmp_path: Path) -> None:
    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example, ignore=shutil.ignore_patterns("__pycache__"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = tmp_path / "runs"
    _dltrain(
        "run", str(example / "config.yaml"), "--runs-dir", str(runs),
        "--set", "training.epochs=2", "--set", "data.examples=300", "--set", "output.plots=false",
        cwd=elsewhere,
    )
    (run_dir,) = (runs / "rings").iterdir()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["imports"] == [
        {
            "module": "rings_plugin",
            "file": str((example / "rings_plugin" / "__init__.py").resolve()),
            "path": str(example.resolve()),
        }
    ]
    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and float(rows[-1]["weight_norm"]) > 0  # the custom callback ran

    # Fresh processes, in another folder: the plugin is re-imported from where the run found it.
    evaluated = _dltrain("eval", str(run_dir), cwd=elsewhere)
    assert "accuracy" in evaluated.stdout
    points = elsewhere / "points.csv"
    points.write_text("x1,x2\n1.0,0.0\n0.0,-3.0\n")
    predicted = _dltrain("predict", str(run_dir), str(points), cwd=elsewhere)
    lines = predicted.stdout.strip().splitlines()
    assert lines[0].startswith("row,predicted_ring,ring_p_ring1") and len(lines) == 3
    _dltrain("run", "--resume", str(run_dir), "--set", "training.epochs=3", cwd=elsewhere)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert (manifest["status"], manifest["epochs_completed"]) == ("completed", 3)
