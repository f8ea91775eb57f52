"""The stage entry points end to end: defects the typed boundaries caught, and provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import pytest
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment
from dltrain.errors import ConfigError
from dltrain.train.monitors import resolve_mode

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.mark.slow
def test_class_weight_balanced_trains_the_shipped_logistic_regression(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "run", str(ROOT / "configs" / "csv" / "logistic_regression.yaml"),
            "--set", "training.class_weight=balanced", "--set", "training.epochs=2",
            "--runs-dir", str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "logistic_regression").iterdir()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed" and "accuracy" in manifest["final_metrics"]["test"]
    assert "training.class_weight=balanced" in manifest["overrides"]


def test_class_weight_on_a_regression_target_is_a_config_error(
    tmp_path: Path, regression_csv: Path
) -> None:
    config = tmp_path / "reg.yaml"
    config.write_text(
        "data: {kind: csv, path: " + str(regression_csv) + ", target: y, task: regression,"
        " categorical: [color]}\n"
        "model:\n  layers:\n    - Dense: {units: 1}\n"
        "training:\n  epochs: 1\n  class_weight: balanced\n"
    )
    result = runner.invoke(app, ["run", str(config), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert f"{config}:7:" in result.output and "training.class_weight" in result.output
    assert "classification target" in result.output
    assert not (tmp_path / "runs").exists()


def test_name_is_one_more_override_keeping_provenance(tmp_path: Path, mnist_npz: Path) -> None:
    config = tmp_path / "base.yaml"
    config.write_text(
        f"name: base\ndata: {{kind: mnist, path: {mnist_npz}, validation: 0.1}}\n"
        "model:\n  input_shape: [28, 28]\n  layers:\n    - Flatten: {}\n"
        "    - Dense: {units: 10, activation: softmax}\n"
        "training: {epochs: 1, batch_size: 32, jit_compile: false}\n"
    )
    result = run_experiment(config, ["training.batch_size=16"], name="renamed",
                            runs_dir=tmp_path / "runs")
    assert result.run_dir.parent.name == "renamed"
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["config_file"] == str(config)
    assert manifest["overrides"] == ["training.batch_size=16", "name=renamed"]
    assert manifest["name"] == "renamed" and manifest["batch_size"] == 16


def test_one_notion_of_better_resolved_as_keras_does() -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy",
                  metrics=["accuracy", "mae", keras.metrics.FalseNegatives(name="fn")])
    model.evaluate(keras.ops.ones((4, 3)), keras.ops.ones((4, 1)), verbose=0)
    key = ("callbacks", "checkpoint", "mode")
    assert resolve_mode(model, "val_loss", "auto", key) == "min"
    assert resolve_mode(model, "val_accuracy", "auto", key) == "max"
    assert resolve_mode(model, "mae", "auto", key) == "min"
    # Where Keras cannot tell, no guess: the config must say (a name guess would pick "min").
    with pytest.raises(ConfigError) as info:
        resolve_mode(model, "val_fn", "auto", key)
    assert info.value.problems[0].key == key and "set mode: min or mode: max" in str(info.value)
    assert resolve_mode(model, "val_fn", "max", key) == "max"


def test_callbacks_are_resolved_and_built_once_per_run(
    tmp_path: Path, mnist_npz: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dltrain.engine.run import resume_experiment

    built: list[Any] = []

    class Counting(keras.callbacks.Callback):
        def __init__(self, label: str = "") -> None:
            super().__init__()
            self.label, self.epochs = label, 0
            built.append(self)

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self.epochs += 1

    monkeypatch.setitem(keras.saving.get_custom_objects(), "test_stages>Counting", Counting)
    # `mode: auto` is resolved by a probe EarlyStopping(mode="auto"); the callbacks training
    # uses get the resolved min/max.
    probes: list[str] = []
    real_init = keras.callbacks.EarlyStopping.__init__

    def counting_init(self: keras.callbacks.EarlyStopping, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("mode") == "auto":
            probes.append(kwargs["monitor"])
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(keras.callbacks.EarlyStopping, "__init__", counting_init)
    config = tmp_path / "exp.yaml"
    config.write_text(
        f"data: {{kind: mnist, path: {mnist_npz}, validation: 0.1}}\n"
        "model:\n  input_shape: [28, 28]\n  layers:\n    - Flatten: {}\n"
        "    - Dense: {units: 10, activation: softmax}\n"
        "metrics: [accuracy]\n"
        "training: {epochs: 1, batch_size: 32, jit_compile: false}\n"
        "output: {plots: false}\n"
        "callbacks:\n"
        "  checkpoint: {monitor: val_accuracy}\n"
        "  early_stopping: {monitor: val_loss, patience: 3}\n"
        "  extra:\n    - Counting: {label: once}\n"
    )
    result = run_experiment(config, runs_dir=tmp_path / "runs")
    assert result.status == "completed"
    # Constructed once (when the run was checked), and that object is the one that trained.
    assert [(c.label, c.epochs) for c in built] == [("once", 1)]
    assert probes == ["val_accuracy", "val_loss"]  # checkpoint, early stopping: once each
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["best"]["monitor"] == "val_accuracy" and manifest["best"]["mode"] == "max"

    resumed = resume_experiment(result.run_dir, ["training.epochs=2"])
    assert resumed.status == "completed" and resumed.epochs_completed == 2
    assert [c.epochs for c in built] == [1, 1]  # one more, per --resume
    assert probes == ["val_accuracy", "val_loss"] * 2
