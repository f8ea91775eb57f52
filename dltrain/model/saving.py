"""``load_model_file``: read a ``.keras`` checkpoint safely, with readable failures."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras

from dltrain.errors import CheckpointError

# Registers the layer and loss of ``data.target_scaling``, which checkpoints may hold.
from dltrain.model import target_scale  # noqa: F401
from dltrain.model.problems import keras_reason

__all__ = ["float32_twin", "load_model_file"]


def float32_twin(model: keras.Model) -> keras.Model | None:
    """``model`` computing in float32 throughout, with the same weights; None when it already
    does.

    A model trained under a mixed policy (``precision: mixed_bfloat16``) keeps float32
    weights but computes in bfloat16/float16, which the export converters do not carry
    (tf2onnx mixes float16 and bfloat16 types; TFLite has no bfloat16 kernels). Every dtype
    policy in its serialized config becomes float32, the model is rebuilt from it and the
    weights are copied, value for value.
    """
    names = {
        str(getattr(layer.dtype_policy, "name", ""))
        for layer in model._flatten_layers(include_self=False)
        if getattr(layer, "dtype_policy", None) is not None
    }
    if not any(name.startswith("mixed_") for name in names):
        return None
    config = _float32_policies(keras.saving.serialize_keras_object(model))
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        twin = keras.saving.deserialize_keras_object(config, safe_mode=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    twin.set_weights(model.get_weights())
    return twin


def _float32_policies(config: object) -> object:
    """``config`` with every mixed ``DTypePolicy`` made float32."""
    if isinstance(config, list):
        return [_float32_policies(item) for item in config]
    if not isinstance(config, dict):
        return config
    inner = config.get("config")
    if (
        "DTypePolicy" in str(config.get("class_name", ""))
        and isinstance(inner, dict)
        and str(inner.get("name", "")).startswith("mixed_")
    ):
        return {**config, "config": {**inner, "name": "float32"}}
    return {key: _float32_policies(value) for key, value in config.items()}


def load_model_file(path: Path) -> keras.Model:
    """Load a compiled model saved in the ``.keras`` format, in Keras's safe mode.

    Safe mode refuses to deserialize code (``Lambda`` layers, pickled functions), so a
    checkpoint from elsewhere cannot run arbitrary Python.

    Args:
        path: A ``.keras`` file.

    Raises:
        CheckpointError: missing, not a ``.keras`` file, truncated or corrupt, or not loadable.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, expected a .keras file")
    if path.suffix != ".keras":
        raise CheckpointError(f"{path}: not a .keras model file (expected the .keras suffix)")
    # A .keras file is a zip archive; a truncated copy loses the archive's directory at its
    # end, which zipfile detects without reading the whole file.
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path}: not a valid .keras archive (the file is truncated or corrupt)"
        )
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=True)
    except Exception as exc:  # Keras and zipfile raise many kinds; all mean "unreadable".
        raise CheckpointError(f"{path}: cannot load the model: {keras_reason(exc)}") from exc
    if not isinstance(model, keras.Model):
        raise CheckpointError(f"{path}: holds a {type(model).__name__}, not a model")
    return model
