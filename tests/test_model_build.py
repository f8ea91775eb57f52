"""The model stage builds (and runs) every family of layers a config can name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from dltrain.config import ExperimentConfig, config_from_dict
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.model import build_model, compile_model, load_model_file, summarize_model

MNIST_LAYERS = [
    {"Flatten": {}},
    {"Dense": {"units": 512, "activation": "relu"}},
    {"Dense": {"units": 10, "activation": "softmax"}},
]


def image_spec(shape: tuple[int, ...] = (28, 28)) -> DataSpec:
    info = [InputInfo("image", shape, "float32")]
    return DataSpec("mnist", info, list(info), [TargetInfo("label", "multiclass", 10, None, True)])


def regression_spec(shape: tuple[int, ...], dtype: str = "float32") -> DataSpec:
    info = [InputInfo("x", shape, dtype)]
    return DataSpec("csv", info, list(info), [TargetInfo("y", "regression")])


def loaded(model: dict[str, Any], **extra: Any) -> ExperimentConfig:
    return config_from_dict({"data": {"kind": "mnist"}, "model": model, **extra}).config


def sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    """A stack ending in one regression value, whatever the layers before produce."""
    return {"layers": [*layers, {"Flatten": {}}, {"Dense": {"units": 1}}]}


# (id, per-example input shape, input dtype, model section)
FAMILIES: list[tuple[str, tuple[int, ...], str, dict[str, Any]]] = [
    ("dense", (4,), "float32", sequential({"Dense": {"units": 3, "activation": "relu"}})),
    ("conv1d", (8, 2), "float32", sequential(
        {"Conv1D": {"filters": 2, "kernel_size": 3}}, {"MaxPooling1D": {"pool_size": 2}})),
    ("conv2d", (8, 8, 1), "float32", sequential(
        {"Conv2D": {"filters": 2, "kernel_size": 3, "padding": "same"}},
        {"MaxPooling2D": {}}, {"AveragePooling2D": {"pool_size": 2}})),
    ("conv3d", (4, 4, 4, 1), "float32", sequential(
        {"Conv3D": {"filters": 2, "kernel_size": 2}}, {"GlobalAveragePooling3D": {}})),
    ("global_pooling", (8, 8, 1), "float32", sequential({"GlobalAveragePooling2D": {}})),
    ("normalization_dropout", (4,), "float32", sequential(
        {"Dense": {"units": 3}}, {"BatchNormalization": {}}, {"LayerNormalization": {}},
        {"Dropout": {"rate": 0.5}})),
    ("reshape_permute", (6,), "float32", sequential(
        {"Reshape": {"target_shape": [2, 3]}}, {"Permute": {"dims": [2, 1]}})),
    ("recurrent", (5, 3), "float32", sequential(
        {"SimpleRNN": {"units": 4, "return_sequences": True}},
        {"LSTM": {"units": 4, "return_sequences": True}}, {"GRU": {"units": 4}})),
    ("bidirectional", (5, 3), "float32", sequential(
        {"Bidirectional": {"layer": {"LSTM": {"units": 4}}, "merge_mode": "concat"}})),
    ("embedding", (6,), "int32", sequential(
        {"Embedding": {"input_dim": 10, "output_dim": 4}}, {"GlobalAveragePooling1D": {}})),
    ("image_preprocessing", (8, 8, 1), "float32", sequential(
        {"Rescaling": {"scale": 0.00392156862745098}}, {"RandomFlip": {"mode": "horizontal"}},
        {"RandomRotation": {"factor": 0.1}},
        {"RandomTranslation": {"height_factor": 0.1, "width_factor": 0.1}},
        {"RandomZoom": {"height_factor": 0.1}})),
    ("time_distributed", (3, 5), "float32", sequential(
        {"TimeDistributed": {"layer": {"Dense": {"units": 4}}}})),
    ("nested_sequential", (4,), "float32", sequential(
        {"Sequential": {"layers": [{"Dense": {"units": 3}}, {"Dense": {"units": 2}}]}})),
    ("nested_objects", (4,), "float32", sequential(
        {"Dense": {"units": 3, "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.01}},
                   "kernel_initializer": "he_normal", "kernel_constraint": "max_norm"}},
        {"Dense": {"units": 3, "kernel_regularizer": "l2", "activation": "gelu",
                   "bias_regularizer": {"class_name": "L1L2", "config": {"l1": 0.1}}}})),
    ("multi_head_attention", (5, 4), "float32", {
        "type": "functional", "inputs": {"x": {}},
        "layers": [
            {"name": "att", "MultiHeadAttention": {"num_heads": 2, "key_dim": 2},
             "inputs": ["x", "x"]},
            {"name": "pool", "GlobalAveragePooling1D": {}, "inputs": "att"},
            {"name": "out", "Dense": {"units": 1}, "inputs": "pool"},
        ],
        "outputs": ["out"],
    }),
    ("merges", (4,), "float32", {
        "type": "functional", "inputs": {"x": {}},
        # Listed out of order on purpose: the builder sorts layers by their inputs.
        "layers": [
            {"name": "out", "Dense": {"units": 1}, "inputs": "all"},
            {"name": "all", "Concatenate": {}, "inputs": ["cat", "sum", "product"]},
            {"name": "a", "Dense": {"units": 3}, "inputs": "x"},
            {"name": "b", "Dense": {"units": 3}, "inputs": "x"},
            {"name": "cat", "Concatenate": {}, "inputs": ["a", "b"]},
            {"name": "sum", "Add": {}, "inputs": ["a", "b"]},
            {"name": "product", "Multiply": {}, "inputs": ["a", "b"]},
        ],
        "outputs": "out",
    }),
    ("shared_layer", (4,), "float32", {
        "type": "functional", "inputs": {"x": {}},
        "layers": [
            {"name": "square", "Dense": {"units": 4}, "inputs": "x"},
            {"name": "again", "shared": "square", "inputs": "square"},
            {"name": "out", "Dense": {"units": 1}, "inputs": "again"},
        ],
        "outputs": ["out"],
    }),
]


def family(name: str) -> dict[str, Any]:
    return next(case[3] for case in FAMILIES if case[0] == name)


@pytest.mark.parametrize(
    ("shape", "dtype", "model_cfg"),
    [case[1:] for case in FAMILIES],
    ids=[case[0] for case in FAMILIES],
)
def test_family_builds_and_runs(
    shape: tuple[int, ...], dtype: str, model_cfg: dict[str, Any]
) -> None:
    model = build_model(loaded(model_cfg), regression_spec(shape, dtype))
    batch = np.zeros((2, *shape), dtype=dtype)
    out = model(batch, training=False)
    assert tuple(out.shape) == (2, 1)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))


def test_shared_layer_weights_count_once() -> None:
    model_cfg = family("shared_layer")
    model = build_model(loaded(model_cfg), regression_spec((4,)))
    square = model.get_layer("square")
    assert len(square._inbound_nodes) == 2  # applied twice, one set of weights
    assert model.count_params() == (4 * 4 + 4) + (4 + 1)
    assert summarize_model(model).total_params == model.count_params()


def test_nested_regularizers_are_keras_objects() -> None:
    model_cfg = family("nested_objects")
    model = build_model(loaded(model_cfg), regression_spec((4,)))
    first, second = model.layers[0], model.layers[1]
    assert isinstance(first.kernel_regularizer, keras.regularizers.L2)
    assert first.kernel_regularizer.l2 == pytest.approx(0.01)
    assert isinstance(second.kernel_regularizer, keras.regularizers.L2)
    assert isinstance(second.bias_regularizer, keras.regularizers.L1L2)
    model(np.ones((2, 4), "float32"))
    assert len(model.losses) == 3


def test_classic_mnist_mlp_is_a_plain_sequential_with_407050_params(tmp_path: Path) -> None:
    cfg = loaded({"name": "mnist_mlp", "input_shape": [28, 28], "layers": MNIST_LAYERS},
                 loss="categorical_crossentropy", metrics=["accuracy"])
    spec = image_spec()
    model = build_model(cfg, spec)
    assert type(model) is keras.Sequential
    assert model.name == "mnist_mlp"
    assert model.count_params() == 407_050

    summary = summarize_model(model)
    assert summary.total_params == summary.trainable_params == 407_050
    assert summary.non_trainable_params == 0
    assert summary.weights_bytes == 407_050 * 4
    assert [(r.class_name, r.output_shape, r.params) for r in summary.rows] == [
        ("Flatten", "(None, 784)", 0),
        ("Dense", "(None, 512)", 401_920),
        ("Dense", "(None, 10)", 5_130),
    ]
    text = summary.to_text()
    assert "407,050" in text and "(None, 512)" in text and 'Model: "mnist_mlp"' in text

    compile_model(model, cfg, spec)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = load_model_file(path)
    batch = np.random.default_rng(0).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(
        restored.predict(batch, verbose=0), model.predict(batch, verbose=0), rtol=1e-5
    )


def test_sequential_takes_the_data_shape_when_input_shape_is_left_out() -> None:
    model = build_model(loaded({"layers": MNIST_LAYERS}), image_spec())
    assert model.input_shape == (None, 28, 28)
    assert model.count_params() == 407_050


def test_sequential_runs_after_the_data_stages_preprocessing() -> None:
    raw = [InputInfo("a", (2,)), InputInfo("b", (1,))]

    def preprocess(inputs: dict[str, Any]) -> dict[str, Any]:
        joined = keras.layers.Concatenate(name="join")([inputs["a"], inputs["b"]])
        return {"features": keras.layers.Rescaling(0.5, name="scale")(joined)}

    spec = DataSpec("csv", raw, [InputInfo("features", (3,))],
                    [TargetInfo("y", "regression")], preprocess)
    model = build_model(loaded({"layers": [{"Dense": {"units": 1}}]}), spec)
    assert not isinstance(model, keras.Sequential)
    out = model({"a": np.ones((2, 2), "float32"), "b": np.ones((2, 1), "float32")})
    assert tuple(out.shape) == (2, 1)


def test_functional_single_input_binds_whatever_its_name() -> None:
    cfg = loaded({
        "type": "functional", "inputs": {"pixels": {}},
        "layers": [{"name": "flat", "Flatten": {}, "inputs": "pixels"},
                   {"name": "label", "Dense": {"units": 10, "activation": "softmax"},
                    "inputs": "flat"}],
        "outputs": ["label"],
    })
    model = build_model(cfg, image_spec())
    assert model.output_names == ["label"]
    assert tuple(model(np.zeros((1, 28, 28), "float32")).shape) == (1, 10)


@pytest.fixture
def mixed_bfloat16() -> Iterator[None]:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.usefixtures("mixed_bfloat16")
def test_mixed_bfloat16_outputs_are_float32() -> None:
    cfg = loaded({"layers": MNIST_LAYERS}, precision="mixed_bfloat16")
    model = build_model(cfg, image_spec())
    assert model.layers[1].compute_dtype == "bfloat16"
    assert model.outputs[0].dtype == "float32"
    assert keras.backend.standardize_dtype(model(np.zeros((1, 28, 28))).dtype) == "float32"

    functional = loaded({
        "type": "functional", "inputs": {"x": {}},
        "layers": [{"name": "flat", "Flatten": {}, "inputs": "x"},
                   {"name": "hidden", "Dense": {"units": 8}, "inputs": "flat"},
                   {"name": "label", "Dense": {"units": 10}, "inputs": "hidden"}],
        "outputs": ["label"],
    }, precision="mixed_bfloat16")
    model = build_model(functional, image_spec())
    assert model.get_layer("hidden").compute_dtype == "bfloat16"
    assert model.outputs[0].dtype == "float32"
    assert model.output_names == ["label"]
