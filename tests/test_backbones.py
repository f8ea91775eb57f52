"""``keras.applications`` models as config layers: build, freeze, preprocess, weights, errors.

Tiny backbones only (MobileNetV2, alpha 0.35, 32x32 images); nothing is downloaded: the
ImageNet test points Keras at a dead proxy, and the cached-weights test writes the file Keras
would have downloaded.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from dltrain.config import ExperimentConfig, config_from_dict
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import ConfigError
from dltrain.model import build_model, load_model_file, summarize_model
from dltrain.model.backbones import application, preprocess_layers

SMALL = {"alpha": 0.35, "weights": None, "include_top": False, "pooling": "avg"}


def image_spec(shape: tuple[int, ...] = (32, 32, 3)) -> DataSpec:
    info = [InputInfo("image", shape, "float32")]
    return DataSpec(
        "image_folder", info, list(info), [TargetInfo("label", "multiclass", 3, None, True)]
    )


def loaded(model: dict[str, Any], **data: Any) -> ExperimentConfig:
    return config_from_dict({"data": {"kind": "mnist", **data}, "model": model}).config


def head(backbone: dict[str, Any]) -> dict[str, Any]:
    return {"layers": [{"MobileNetV2": backbone}, {"Dense": {"units": 3, "activation": "softmax"}}]}


def problems_of(model: dict[str, Any], shape: tuple[int, ...] = (32, 32, 3)) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        build_model(loaded(model), image_spec(shape))
    return {p.path: p.message for p in caught.value.problems}


@pytest.mark.slow
def test_frozen_backbone_trains_its_head_only_and_saves(tmp_path: Path) -> None:
    model = build_model(loaded(head({**SMALL, "trainable": False})), image_spec())
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert not backbone.trainable
    assert [type(layer).__name__ for layer in model.layers][-3:] == [
        "Rescaling",
        "Functional",
        "Dense",
    ]
    frozen = [w.copy() for w in backbone.get_weights()]
    head_before = [w.copy() for w in model.layers[-1].get_weights()]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype("float32")
    model.train_on_batch(x, np.eye(3, dtype="float32")[[0, 1, 2, 0]])
    assert all(np.array_equal(a, b) for a, b in zip(frozen, backbone.get_weights(), strict=True))
    # (A random backbone in inference mode gives tiny features: the bias moves the most.)
    head_after = model.layers[-1].get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(head_before, head_after, strict=True))

    rows = summarize_model(model).rows
    assert [r.class_name for r in rows][-2:] == ["Functional", "Dense"]
    path = tmp_path / "model.keras"
    model.save(path)
    again = load_model_file(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_functional_backbone_with_raw_pixels() -> None:
    model = build_model(
        loaded(
            {
                "type": "functional",
                "inputs": {"image": {}},
                "layers": [
                    {"name": "base", "MobileNetV2": SMALL, "inputs": "image"},
                    {
                        "name": "out",
                        "Dense": {"units": 3, "activation": "softmax"},
                        "inputs": "base",
                    },
                ],
                "outputs": ["out"],
            },
            scale=False,
        ),
        image_spec(),
    )
    names = [layer.name for layer in model.layers]
    assert names[1:] == ["base_preprocess", "base", "out"]
    rescaling = model.get_layer("base_preprocess")
    # Raw 0..255 pixels -> [-1, 1], as mobilenet_v2.preprocess_input does.
    assert rescaling.scale == pytest.approx(1 / 127.5)
    assert rescaling.offset == pytest.approx(-1.0)
    assert model.get_layer("base").trainable


def test_trainable_backbone_in_a_plain_sequential() -> None:
    model = build_model(loaded(head({**SMALL, "preprocess": "none"})), image_spec())
    assert isinstance(model, keras.Sequential)
    assert [type(layer).__name__ for layer in model.layers] == ["Functional", "Dense"]


def test_argument_problems_are_located() -> None:
    found = problems_of(
        {
            "layers": [
                {
                    "MobileNetV2": {
                        **SMALL,
                        "alhpa": 1.0,
                        "trainable": "no",
                        "input_shape": [8, 8, 3],
                    }
                },
                {"MobilenetV2": {}},
                {"MobileNetV2": {**SMALL, "weights": "/no/such/file.weights.h5"}},
                {"Dense": {"units": 3}},
            ]
        }
    )
    assert "did you mean 'alpha'" in found["model.layers[0].MobileNetV2.alhpa"]
    assert "include_top" in found["model.layers[0].MobileNetV2.alhpa"]
    assert "true or false" in found["model.layers[0].MobileNetV2.trainable"]
    assert "input shape" in found["model.layers[0].MobileNetV2.input_shape"]
    assert "did you mean 'MobileNetV2'" in found["model.layers[1].MobilenetV2"]
    assert "/no/such/file.weights.h5" in found["model.layers[2].MobileNetV2.weights"]


def test_keras_reasons_become_located_problems() -> None:
    small = problems_of(head(SMALL), shape=(16, 16, 3))
    assert "32" in small["model.layers[0].MobileNetV2"]
    gray = problems_of(head({**SMALL, "weights": "imagenet"}), shape=(32, 32, 1))
    assert "3" in next(iter(gray.values()))
    caffe = problems_of(
        {
            "layers": [
                {"ResNet50": {"weights": None, "include_top": False, "pooling": "avg"}},
                {"Dense": {"units": 3}},
            ]
        },
        shape=(32, 32, 1),
    )
    assert "preprocess: none" in caffe["model.layers[0].ResNet50.preprocess"]


@pytest.mark.parametrize("pixel_max", [1.0, 255.0])
@pytest.mark.parametrize(
    ("name", "module", "layer"),
    [
        ("MobileNetV2", "mobilenet_v2", "Rescaling"),
        ("ResNet50", "resnet", "Conv2D"),
        ("DenseNet121", "densenet", "Normalization"),
        ("EfficientNetB0", "efficientnet", None),
    ],
)
def test_preprocess_layers_equal_keras_preprocess_input(
    name: str, module: str, layer: str | None, pixel_max: float
) -> None:
    app = application(name)
    assert app is not None
    steps = preprocess_layers(app, 3, pixel_max, "pre")
    raw = np.random.default_rng(1).integers(0, 256, (2, 5, 4, 3), dtype=np.uint8)
    x = raw.astype("float32") * np.float32(pixel_max / 255.0)
    for step in steps:
        x = keras.ops.convert_to_numpy(step(x))
    expected = getattr(keras.applications, module).preprocess_input(raw.astype("float32"))
    np.testing.assert_allclose(x, expected, atol=1e-4, rtol=0)
    if layer is None and pixel_max == 255.0:
        assert steps == []
    elif layer is None:
        assert [type(s).__name__ for s in steps] == ["Rescaling"]
    else:
        assert [type(s).__name__ for s in steps] == [layer]


MOBILENET_96 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keras's cache in a temporary folder, and every download through a dead proxy."""
    home = tmp_path / "keras-home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    # Keras reads KERAS_HOME once, at import (keras/src/backend/config.py).
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(home))
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    # urllib builds its opener (and reads the proxies) once; make it read them again.
    monkeypatch.setattr(urllib.request, "_opener", None)
    return home


def imagenet_96() -> dict[str, Any]:
    return head({**SMALL, "weights": "imagenet", "trainable": False})


def test_failed_download_names_the_file_and_folder(keras_home: Path) -> None:
    found = problems_of(imagenet_96(), shape=(96, 96, 3))
    message = found["model.layers[0].MobileNetV2.weights"]
    assert MOBILENET_96 in message
    assert str(keras_home / "models") in message
    assert (
        f"https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/{MOBILENET_96}"
        in message
    )


@pytest.mark.slow
def test_cached_and_local_weights_are_loaded(keras_home: Path, tmp_path: Path) -> None:
    source = keras.applications.MobileNetV2(input_shape=(96, 96, 3), **SMALL)
    source.save(keras_home / "models" / MOBILENET_96)  # the legacy .h5 Keras downloads
    cached = build_model(loaded(imagenet_96()), image_spec((96, 96, 3)))
    local_file = tmp_path / "backbone.weights.h5"
    source.save_weights(local_file)
    local = build_model(
        loaded(head({**SMALL, "weights": str(local_file)})), image_spec((96, 96, 3))
    )
    for model in (cached, local):
        backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
        for a, b in zip(source.get_weights(), backbone.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_backbones_only_at_the_top_level() -> None:
    found = problems_of(
        {
            "layers": [
                {"Sequential": {"layers": [{"MobileNetV2": SMALL}]}},
                {"TimeDistributed": {"layer": {"MobileNetV2": SMALL}}},
                {"Dense": {"units": 3}},
            ]
        }
    )
    assert "not inside" in found["model.layers[0].Sequential.layers[0].MobileNetV2"]
    assert "not inside" in found["model.layers[1].TimeDistributed.layer"]


def test_keras_home_is_where_get_file_looks() -> None:
    """The one private Keras name backbones.py reads: KERAS_HOME as Keras resolved it."""
    from keras.src.backend import config
    from keras.src.utils import file_utils

    assert isinstance(config.keras_home(), str)
    assert "config.keras_home()" in Path(file_utils.__file__).read_text()
