"""``training.fine_tune``: two phases in one run, exact across a kill before or after the switch."""

from __future__ import annotations

import csv
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from datagen import write_mnist_npz

from dltrain.config import config_from_dict, load_config
from dltrain.engine.check import check_config
from dltrain.engine.run import resume_experiment, run_experiment
from dltrain.errors import ConfigError
from dltrain.train.fine_tune import (
    fine_tune_problems,
    phase_two_learning_rate,
    start_fine_tune,
    unfreeze_layers,
)
from dltrain.train.sink import NullProgress

# A frozen "backbone" (a nested Sequential block whose layers are frozen, BatchNormalization
# among them) under a trainable head. Early stopping restores its best weights at the end of
# every fit, and "best" here is the worst epoch (mode: max on val_loss, never stopping): the
# switch must give phase 2 the last phase-1 weights, in one run as in a resumed one.
CONFIG = """\
name: ft
seed: 5
data: {{kind: mnist, path: {path}, validation: 0.25}}
model:
  input_shape: [28, 28]
  layers:
    - Flatten: {{}}
    - Sequential:
        name: backbone
        layers:
          - Dense: {{units: 6, activation: relu, trainable: false}}
          - BatchNormalization: {{trainable: false}}
          - Dense: {{units: 6, activation: relu, trainable: false}}
    - Dense: {{units: 10, activation: softmax, name: head}}
optimizer: {{name: adam, learning_rate: 0.01}}
loss: categorical_crossentropy
training:
  epochs: 4
  batch_size: 8
  steps_per_execution: 1
  jit_compile: false
  fine_tune: {{after_epoch: 2}}
callbacks:
  early_stopping: {{patience: 10, restore_best_weights: true, monitor: val_loss, mode: max}}
output: {{plots: false}}
"""


class Messages(NullProgress):
    def __init__(self) -> None:
        self.texts: list[str] = []

    def message(self, text: str) -> None:
        self.texts.append(text)


class _CtrlC(keras.callbacks.Callback):
    """Presses Ctrl-C once, after the third batch of epoch ``epoch`` (counting from 0)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.at = epoch
        self.epoch = -1
        self.fired = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.epoch == self.at and batch == 2 and not self.fired:
            self.fired = True
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fine-tune")
    path = folder / "ft.yaml"
    path.write_text(CONFIG.format(path=write_mnist_npz(folder / "m.npz", n_train=64, n_test=8)))
    return path


class Snapshots(keras.callbacks.Callback):
    """Each epoch's weights by variable path (resume points keep only the last two)."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[dict[str, np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        layers = [*self.model.get_layer("backbone").layers, self.model.get_layer("head")]
        self.epochs.append(
            {
                f"{layer.name}/{w.name}": keras.ops.convert_to_numpy(w)
                for layer in layers
                for w in layer.weights
            }
        )


@dataclass
class Whole:
    run_dir: Path
    messages: list[str]
    weights: list[dict[str, np.ndarray]]


@pytest.fixture(scope="module")
def whole(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Whole:
    sink, snapshots = Messages(), Snapshots()
    runs = tmp_path_factory.mktemp("whole")
    result = run_experiment(config, runs_dir=runs, progress=sink, callbacks=[snapshots])
    assert result.status == "completed" and result.epochs_completed == 4
    return Whole(result.run_dir, sink.texts, snapshots.epochs)


def point_model(run_dir: Path, epoch: int) -> keras.Model:
    return keras.saving.load_model(run_dir / f"checkpoints/resume/epoch-{epoch:05d}/model.keras")


# ------------------------------------------------------------------------------ one run


@pytest.mark.slow
def test_phase_one_keeps_the_backbone_and_phase_two_trains_it(whole: Whole) -> None:
    one, two, three, four = whole.weights
    backbone = [key for key in one if not key.startswith("head/")]
    bn = [key for key in backbone if "batch_normalization" in key]
    dense = [key for key in backbone if key.endswith("kernel")]
    assert len(bn) == 4 and len(dense) == 2
    assert not np.array_equal(one["head/kernel"], two["head/kernel"])  # the head trains
    for key in backbone:
        np.testing.assert_array_equal(one[key], two[key])  # the backbone does not
    for key in dense:
        assert not np.array_equal(two[key], three[key])
        assert not np.array_equal(three[key], four[key])
    for key in bn:  # gamma, beta and the moving statistics: frozen throughout
        np.testing.assert_array_equal(one[key], four[key])
    model = point_model(whole.run_dir, 4)
    flags = {layer.name: layer.trainable for layer in model.get_layer("backbone").layers}
    assert sorted(flags.values()) == [False, True, True]
    assert not next(v for k, v in flags.items() if "batch_normalization" in k)


@pytest.mark.slow
def test_phase_two_rate_record_and_message(whole: Whole) -> None:
    run_dir, messages = whole.run_dir, whole.messages
    with (run_dir / "metrics.csv").open() as handle:
        rates = [float(row["learning_rate"]) for row in csv.DictReader(handle)]
    assert rates == pytest.approx([0.01, 0.01, 0.001, 0.001])
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["fine_tune"] == {"at_epoch": 2, "unfrozen_layers": 2, "learning_rate": 0.001}
    assert "epoch 3: fine-tuning: 2 layers unfrozen, learning rate 0.001" in messages
    assert point_model(run_dir, 4).optimizer.learning_rate.numpy() == pytest.approx(0.001)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kill_in", "switches"),
    [
        (1, True),  # phase 1: the resumed run switches at epoch 2
        (2, True),  # the first phase-2 epoch: back to the phase-1 point at 2, switch again
        (3, False),  # phase 2: the point at 3 is a phase-2 model, no second switch
    ],
)
def test_a_run_killed_and_resumed_ends_where_the_whole_run_did(
    config: Path,
    whole: Whole,
    tmp_path: Path,
    kill_in: int,
    switches: bool,
) -> None:
    first = run_experiment(config, runs_dir=tmp_path, callbacks=[_CtrlC(kill_in)])
    assert first.status == "interrupted" and first.epochs_completed == kill_in
    sink = Messages()
    resumed = resume_experiment(first.run_dir, progress=sink)
    assert resumed.status == "completed" and resumed.epochs_completed == 4
    assert any("fine-tuning" in text for text in sink.texts) == switches
    manifest = json.loads((first.run_dir / "run.json").read_text())
    assert manifest["fine_tune"]["at_epoch"] == 2
    expected = point_model(whole.run_dir, 4)
    got = point_model(first.run_dir, 4)
    for a, b in zip(expected.get_weights(), got.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(expected.optimizer.variables, got.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


# --------------------------------------------------------------------------- config problems


def test_config_problems_are_located(config: Path, tmp_path: Path) -> None:
    text = config.read_text()
    late = tmp_path / "late.yaml"
    late.write_text(text.replace("after_epoch: 2", "after_epoch: 4"))
    with pytest.raises(ConfigError) as caught:
        check_config(load_config(late))
    (problem,) = caught.value.problems
    assert problem.path == "training.fine_tune.after_epoch" and problem.location is not None
    assert problem.location.line == text.splitlines().index("  fine_tune: {after_epoch: 2}") + 1
    assert "less than training.epochs (4)" in problem.message

    thawed = tmp_path / "thawed.yaml"
    thawed.write_text(text.replace(", trainable: false", ""))
    with pytest.raises(ConfigError) as caught:
        check_config(load_config(thawed))
    (problem,) = caught.value.problems
    assert problem.path == "training.fine_tune.unfreeze"
    assert "nothing to unfreeze: no layer of the model is frozen" in problem.message
    with pytest.raises(ConfigError, match="nothing to unfreeze"):  # run refuses before training
        run_experiment(thawed, runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_a_schedule_needs_an_explicit_phase_two_rate() -> None:
    body = _body(
        optimizer={
            "name": "sgd",
            "learning_rate": {
                "class_name": "ExponentialDecay",
                "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9},
            },
        }
    )
    (problem,) = fine_tune_problems(config_from_dict(body).config)
    assert problem.path == "training.fine_tune.learning_rate"
    body["training"]["fine_tune"]["learning_rate"] = 0.003
    cfg = config_from_dict(body).config
    assert fine_tune_problems(cfg) == [] and phase_two_learning_rate(cfg) == 0.003


def test_the_default_rate_is_a_tenth_of_the_configured_one() -> None:
    assert phase_two_learning_rate(config_from_dict(_body()).config) == pytest.approx(0.002)
    # No rate written: a tenth of the optimizer's own default (Adam: 0.001).
    body = _body(optimizer={"name": "adam"})
    assert phase_two_learning_rate(config_from_dict(body).config) == pytest.approx(0.0001)


def _body(**extra: Any) -> dict[str, Any]:
    return {
        "data": {"kind": "mnist"},
        "model": {"layers": [{"Dense": {"units": 2}}]},
        "optimizer": {"name": "adam", "learning_rate": 0.02},
        "training": {"epochs": 3, "fine_tune": {"after_epoch": 1}},
        **extra,
    }


# ------------------------------------------------------------------------------ unfreezing


def _backbone_model(*, functional: bool = False) -> tuple[keras.Model, keras.Model]:
    layers = [
        keras.layers.Dense(3, name="a"),
        keras.layers.BatchNormalization(name="bn"),
        keras.layers.Dense(3, name="b"),
        keras.layers.Dropout(0.1, name="drop"),
        keras.layers.Dense(3, name="c"),
    ]
    if functional:
        inp = keras.Input((4,))
        x = inp
        for layer in layers:
            x = layer(x)
        backbone = keras.Model(inp, x, name="backbone")
    else:
        backbone = keras.Sequential([keras.Input((4,)), *layers], name="backbone")
    backbone.trainable = False
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, name="head")(backbone(inputs))
    return keras.Model(inputs, outputs), backbone


def _trains(model: keras.Model) -> list[str]:
    return sorted({w.path.split("/")[-2] for w in model.trainable_weights})


@pytest.mark.parametrize("functional", [False, True])
def test_unfreeze_all_keeps_batch_normalization_frozen(functional: bool) -> None:
    model, backbone = _backbone_model(functional=functional)
    assert _trains(model) == ["head"]
    assert unfreeze_layers(model, "all") == 3
    assert _trains(model) == ["a", "b", "c", "head"]
    assert not backbone.get_layer("bn").trainable


@pytest.mark.parametrize("functional", [False, True])
def test_unfreeze_k_counts_the_backbone_own_layers_from_its_end(functional: bool) -> None:
    model, _ = _backbone_model(functional=functional)
    assert unfreeze_layers(model, 3) == 2  # c, drop (no weights), b
    assert _trains(model) == ["b", "c", "head"]
    assert unfreeze_layers(model, 3) == 0  # nothing left in the last three
    model, _ = _backbone_model(functional=functional)
    assert unfreeze_layers(model, 99) == 3


def test_unfreeze_k_counts_frozen_top_level_layers_from_the_end() -> None:
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, name="a", trainable=False),
            keras.layers.BatchNormalization(name="bn", trainable=False),
            keras.layers.Dense(3, name="b", trainable=False),
            keras.layers.Dense(3, name="c", trainable=False),
            keras.layers.Dense(2, name="head"),
        ]
    )
    assert unfreeze_layers(model, 2) == 2
    assert _trains(model) == ["b", "c", "head"]
    assert unfreeze_layers(model, "all") == 1
    assert _trains(model) == ["a", "b", "c", "head"]


def test_the_switch_recompiles_at_the_set_rate_and_keeps_the_xla_choice() -> None:
    from dltrain.data.spec import DataSpec, InputInfo, TargetInfo

    body = _body()
    body["training"]["fine_tune"] = {"after_epoch": 1, "unfreeze": 1, "learning_rate": 0.0005}
    body["loss"] = "mse"
    cfg = config_from_dict(body).config
    spec = DataSpec(
        "csv",
        [InputInfo("x", (4,), "float32")],
        [InputInfo("x", (4,), "float32")],
        [TargetInfo("y", "regression", 2, None, False)],
    )
    model, _ = _backbone_model()
    model.compile(optimizer="adam", loss="mse", jit_compile=False)
    model.jit_compile = True
    record = start_fine_tune(model, cfg, spec)
    assert (record.at_epoch, record.unfrozen_layers, record.learning_rate) == (1, 1, 0.0005)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0005)
    assert model.jit_compile is True and _trains(model) == ["c", "head"]
    model.jit_compile = False  # (an XLA compilation here would only cost time)
    x = np.ones((4, 4), "float32")
    model.fit(x, np.ones((4, 2), "float32"), verbose=0)  # trains with the new optimizer


def test_beside_a_backbone_frozen_top_level_layers_stay_frozen() -> None:
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a")], name="bb")
    backbone.trainable = False
    inputs = keras.Input((4,))
    fixed = keras.layers.Dense(4, name="fixed", trainable=False)  # e.g. caffe preprocessing
    outputs = keras.layers.Dense(2, name="head")(backbone(fixed(inputs)))
    model = keras.Model(inputs, outputs)
    assert unfreeze_layers(model, "all") == 1
    assert _trains(model) == ["a", "head"]
