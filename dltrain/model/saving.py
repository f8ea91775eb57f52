"""``load_model_file``: read a ``.keras`` checkpoint safely, with readable failures."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras

from dltrain.errors import CheckpointError

# Registers the layer and loss of ``data.target_scaling``, which checkpoints may hold.
from dltrain.model import target_scale  # noqa: F401
from dltrain.model.problems import keras_reason

__all__ = ["load_model_file"]


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
