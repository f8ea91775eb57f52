"""Optimizers, schedules, losses and metrics from the config, and a tiny fit."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from dltrain.config import ExperimentConfig, config_from_dict
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.model import build_model, build_optimizer, compile_model
from dltrain.model.compile import default_loss

SMALL = DataSpec(
    "csv", [InputInfo("x", (3,))], [InputInfo("x", (3,))], [TargetInfo("y", "regression")]
)
STACK = {"layers": [{"Dense": {"units": 1}}]}


def loaded(model: dict[str, Any] | None = None, **extra: Any) -> ExperimentConfig:
    return config_from_dict({"data": {"kind": "mnist"}, "model": model or STACK, **extra}).config


def optimizer_for(**section: Any) -> Any:
    return build_optimizer(loaded(optimizer=section))


def rate(optimizer: Any, step: int) -> float:
    """The learning rate the optimizer would use at ``step``."""
    optimizer.iterations.assign(step)
    return float(optimizer.learning_rate)


@pytest.mark.parametrize(
    ("schedule", "at_zero", "later_step", "later_below"),
    [
        ({"class_name": "ExponentialDecay",
          "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}},
         0.1, 10, 0.051),
        ({"class_name": "PiecewiseConstantDecay",
          "config": {"boundaries": [5], "values": [0.1, 0.01]}}, 0.1, 6, 0.011),
        ({"class_name": "CosineDecay",
          "config": {"initial_learning_rate": 0.0, "decay_steps": 10, "warmup_target": 0.1,
                     "warmup_steps": 5}}, 0.0, 5, 0.1001),
        ({"class_name": "InverseTimeDecay",
          "config": {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 1.0}},
         0.1, 1, 0.051),
        ({"class_name": "PolynomialDecay",
          "config": {"initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.0}},
         0.1, 10, 1e-6),
    ],
    ids=lambda v: v["class_name"] if isinstance(v, dict) else None,
)
def test_schedules(schedule: dict[str, Any], at_zero: float, later_step: int,
                   later_below: float) -> None:
    optimizer = optimizer_for(name="adam", learning_rate=schedule)
    assert type(optimizer).__name__ == "Adam"
    assert rate(optimizer, 0) == pytest.approx(at_zero, abs=1e-7)
    assert rate(optimizer, later_step) < later_below


def test_sgd_arguments_pass_through() -> None:
    sgd = optimizer_for(name="sgd", learning_rate=0.05, momentum=0.9, nesterov=True, clipnorm=1.0)
    assert isinstance(sgd, keras.optimizers.SGD)
    assert sgd.momentum == pytest.approx(0.9) and sgd.nesterov is True
    assert sgd.clipnorm == pytest.approx(1.0)
    assert float(sgd.learning_rate) == pytest.approx(0.05)

    adamw = optimizer_for(name="AdamW", weight_decay=0.01, beta_1=0.8, global_clipnorm=2.0)
    assert isinstance(adamw, keras.optimizers.AdamW)
    assert adamw.beta_1 == pytest.approx(0.8) and adamw.global_clipnorm == pytest.approx(2.0)


def test_defaults_follow_the_task() -> None:
    assert default_loss(TargetInfo("y", "regression")) == "mse"
    assert default_loss(TargetInfo("y", "binary")) == "binary_crossentropy"
    assert default_loss(TargetInfo("y", "multiclass", 3, one_hot=True)) == (
        "categorical_crossentropy"
    )
    assert default_loss(TargetInfo("y", "multiclass", 3)) == "sparse_categorical_crossentropy"

    cfg = loaded(training={"steps_per_execution": 2, "jit_compile": False})
    model = build_model(cfg, SMALL)
    compile_model(model, cfg, SMALL)
    assert model.loss == "mse"
    assert model.steps_per_execution == 2
    assert model.jit_compile is False
    logs = model.evaluate(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"),
                          return_dict=True, verbose=0)
    assert set(logs) == {"loss", "mae"}


def test_loss_and_metric_objects_from_specs() -> None:
    cfg = loaded(
        loss={"class_name": "Huber", "config": {"delta": 2.0}},
        metrics=["mse", {"class_name": "RootMeanSquaredError", "config": {"name": "rmse"}}],
    )
    model = build_model(cfg, SMALL)
    compile_model(model, cfg, SMALL)
    assert isinstance(model.loss, keras.losses.Huber)
    logs = model.evaluate(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"),
                          return_dict=True, verbose=0)
    assert {"loss", "mse", "rmse"} <= set(logs)


def test_multi_input_multi_output_fits_one_epoch() -> None:
    raw = [InputInfo("left", (3,)), InputInfo("right", (2,))]
    spec = DataSpec(
        "csv", raw, list(raw),
        [TargetInfo("price", "regression"), TargetInfo("kind", "multiclass", 3)],
    )
    model_cfg = {
        "type": "functional",
        "inputs": {"left": {}, "right": {}},
        "layers": [
            {"name": "both", "Concatenate": {}, "inputs": ["left", "right"]},
            {"name": "hidden", "Dense": {"units": 8, "activation": "relu"}, "inputs": "both"},
            {"name": "kind_out", "Dense": {"units": 3, "activation": "softmax"},
             "inputs": "hidden"},
            {"name": "price_out", "Dense": {"units": 1}, "inputs": "hidden"},
        ],
        "outputs": ["price_out", "kind_out"],
    }
    cfg = loaded(
        model_cfg,
        loss={"price_out": "mse", "kind_out": "sparse_categorical_crossentropy"},
        loss_weights={"price_out": 0.5},
        metrics={"kind_out": ["accuracy"]},
        optimizer={"name": "adam", "learning_rate": 0.01},
    )
    model = build_model(cfg, spec)
    assert model.output_names == ["price_out", "kind_out"]
    compile_model(model, cfg, spec)

    rng = np.random.default_rng(0)
    x = {"left": rng.random((8, 3), dtype=np.float32), "right": rng.random((8, 2), dtype=np.float32)}
    y = (rng.random((8, 1), dtype=np.float32), rng.integers(0, 3, (8,)))
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    keys = set(history.history)
    assert {"loss", "price_out_loss", "kind_out_loss", "kind_out_accuracy"} <= keys
    assert not any(k.startswith("price_out_accuracy") for k in keys)
    assert np.isfinite(history.history["loss"][0])


def test_chosen_defaults_are_recorded_in_the_resolved_config() -> None:
    cfg = loaded(optimizer={"name": "sgd"})
    before = cfg.model_dump(mode="json", exclude_none=True)
    assert "loss" not in before and "learning_rate" not in before["optimizer"]
    compile_model(build_model(cfg, SMALL), cfg, SMALL)
    resolved = cfg.model_dump(mode="json", exclude_none=True)
    assert resolved["loss"] == "mse" and resolved["metrics"] == ["mae"]
    assert resolved["optimizer"] == {"name": "sgd", "learning_rate": 0.01}
    # What the run records loads back to the same choices.
    again = config_from_dict(resolved).config
    compile_model(build_model(again, SMALL), again, SMALL)
    assert again.model_dump(mode="json", exclude_none=True) == resolved


def test_per_output_defaults_fill_only_what_is_left_out() -> None:
    raw = [InputInfo("x", (3,))]
    spec = DataSpec(
        "csv", raw, list(raw),
        [TargetInfo("price", "regression"), TargetInfo("kind", "multiclass", 3)],
    )
    model_cfg = {
        "type": "functional",
        "inputs": {"x": {}},
        "layers": [
            {"name": "price", "Dense": {"units": 1}, "inputs": "x"},
            {"name": "kind", "Dense": {"units": 3, "activation": "softmax"}, "inputs": "x"},
        ],
        "outputs": ["price", "kind"],
    }
    cfg = loaded(model_cfg, loss={"price": "huber"})
    compile_model(build_model(cfg, spec), cfg, spec)
    resolved = cfg.model_dump(mode="json", exclude_none=True)
    assert resolved["loss"] == {"price": "huber", "kind": "sparse_categorical_crossentropy"}
    assert resolved["metrics"] == {"price": ["mae"], "kind": ["accuracy"]}
    assert resolved["optimizer"] == {"name": "adam", "learning_rate": 0.001}
