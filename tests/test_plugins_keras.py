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
training: {epochs: 1, batch_size: 16, jit_compile: false}
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
            "sha256": plugins.code_digest(example / "rings_plugin"),
        }
    ]
    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and float(rows[-1]["weight_norm"]) > 0  # the custom callback ran

    # Fresh processes, in another folder: the plugin is re-imported from where the run found it,
    # with consent (it is not installed) and its recorded hash.
    evaluated = _dltrain("eval", str(run_dir), "--trust-imports", cwd=elsewhere)
    assert "accuracy" in evaluated.stdout
    points = elsewhere / "points.csv"
    points.write_text("x1,x2\n1.0,0.0\n0.0,-3.0\n")
    predicted = _dltrain("predict", str(run_dir), str(points), "--trust-imports", cwd=elsewhere)
    lines = predicted.stdout.strip().splitlines()
    assert lines[0].startswith("row,predicted_ring,ring_p_ring1") and len(lines) == 3
    _dltrain(
        "run", "--resume", str(run_dir), "--set", "training.epochs=3", "--trust-imports",
        cwd=elsewhere,
    )
    manifest = json.loads((run_dir / "run.json").read_text())
    assert (manifest["status"], manifest["epochs_completed"]) == ("completed", 3)


MARKED = '''
from pathlib import Path

import numpy as np
from pydantic import BaseModel

import dltrain
from dltrain.data import datasets_from_arrays

# What the probe planted: a module that leaves a file behind when it is imported.
Path(__file__).with_name("tp_marked.imported").write_text("imported")


class LineData(BaseModel):
    examples: int = 32


@dltrain.register_dataset("tp_marked", config=LineData)
def load_line(section, config, test_path):
    x = np.linspace(-1, 1, section.examples, dtype="float32")[:, None]
    return datasets_from_arrays(
        config, {"train": (x, 2 * x[:, 0]), "test": (x, 2 * x[:, 0])}, task="regression",
        columns=["x"],
    )
'''


def test_a_received_run_folder_does_not_run_its_own_code(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Probe H1: a run folder whose run.json points `imports` at a module inside it ran that
    # module on `eval .`, `predict`, `export` and `run --resume`.
    import hashlib

    kinds = dict(plugins._KINDS)

    def forget() -> None:  # as a fresh process would start: nothing imported or registered
        sys.modules.pop("tp_marked", None)
        plugins._KINDS.clear()
        plugins._KINDS.update(kinds)

    src = plugin_dir / "src"
    src.mkdir()
    (src / "tp_marked.py").write_text(MARKED)
    (src / "exp.yaml").write_text(
        "imports: [tp_marked]\ndata: {kind: tp_marked}\nmodel: {layers: [Dense: {units: 1}]}\n"
        "training: {epochs: 1, batch_size: 16, jit_compile: false}\noutput: {plots: false}\n"
    )
    result = dltrain.run(str(src / "exp.yaml"), runs_dir=plugin_dir / "runs")
    assert result.status == "completed"
    recorded = json.loads((result.run_dir / "run.json").read_text())["imports"]
    digest = hashlib.sha256(MARKED.encode()).hexdigest()
    assert recorded[0]["sha256"] == digest
    forget()

    received = plugin_dir / "recv" / "run1"
    shutil.copytree(result.run_dir, received)
    (received / "tp_marked.py").write_text(MARKED)
    manifest = json.loads((received / "run.json").read_text())
    manifest["imports"] = [
        {"module": "tp_marked", "file": "./tp_marked.py", "path": ".", "sha256": digest}
    ]
    (received / "run.json").write_text(json.dumps(manifest))
    (received.parent / "in.csv").write_text("x\n0.5\n-0.5\n")
    marker = received / "tp_marked.imported"
    monkeypatch.chdir(received)
    commands = [
        ["eval", "."],
        ["predict", ".", "../in.csv", "-o", "../p.csv", "--overwrite"],
        ["export", ".", "--format", "saved_model", "--no-verify", "-o", "../sm"],
        ["run", "--resume", ".", "--set", "training.epochs=2"],
    ]
    for command in commands:
        refused = runner.invoke(app, command)
        assert refused.exit_code == 2, (command, refused.output)
        assert "config.yaml: imports[0]: 'tp_marked' is not installed here" in refused.output
        assert "./tp_marked.py, sha256 " + digest[:12] in refused.output
        assert "--trust-imports" in refused.output and "Traceback" not in refused.output
        assert not marker.exists(), command

    for command in commands:  # consent, and the code is the one the run recorded
        forget()
        shutil.rmtree(received.parent / "sm", ignore_errors=True)
        trusted = runner.invoke(app, [*command, "--trust-imports"])
        assert trusted.exit_code == 0, (command, trusted.output)
        assert marker.exists(), command
        marker.unlink()
    assert json.loads((received / "run.json").read_text())["epochs_completed"] == 2

    (received / "tp_marked.py").write_text(MARKED + "print('changed')\n")
    commands[-1] = ["run", "--resume", ".", "--set", "training.epochs=3"]
    for command in commands:  # consent does not cover other code than the run recorded
        forget()
        changed = runner.invoke(app, [*command, "--trust-imports"])
        assert changed.exit_code == 2, (command, changed.output)
        assert "is not the code the run imported" in changed.output
        assert f"run.json recorded {digest[:12]}" in changed.output
        assert not marker.exists(), command
    forget()
