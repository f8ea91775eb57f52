"""``load_model_file`` loads in safe mode and turns every failure into a CheckpointError."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from dltrain.config import config_from_dict
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import CheckpointError
from dltrain.model import build_model, compile_model, load_model_file

SPEC = DataSpec(
    "csv", [InputInfo("x", (3,))], [InputInfo("x", (3,))], [TargetInfo("y", "binary")]
)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    cfg = config_from_dict({
        "data": {"kind": "mnist"},
        "model": {"layers": [{"Dense": {"units": 4, "activation": "relu"}},
                             {"Dense": {"units": 1, "activation": "sigmoid"}}]},
    }).config
    model = build_model(cfg, SPEC)
    compile_model(model, cfg, SPEC)
    path = tmp_path / "best.keras"
    model.save(path)
    return path


def test_round_trip_keeps_predictions_and_compilation(saved: Path) -> None:
    model = load_model_file(saved)
    assert isinstance(model, keras.Model)
    assert model.loss == "binary_crossentropy"
    assert model.predict(np.zeros((2, 3), "float32"), verbose=0).shape == (2, 1)


def test_junk_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.keras"
    path.write_bytes(b"\x00not a zip archive at all" * 10)
    with pytest.raises(CheckpointError, match=r"x\.keras: not a valid \.keras archive"):
        load_model_file(path)


def test_truncated_file(saved: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.keras: .*truncated or corrupt"):
        load_model_file(truncated)


def test_zip_without_a_model(tmp_path: Path) -> None:
    path = tmp_path / "empty.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(CheckpointError, match=r"empty\.keras: cannot load the model: "):
        load_model_file(path)


def test_missing_folder_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load_model_file(tmp_path / "nope.keras")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_model_file(tmp_path)
    other = tmp_path / "weights.h5"
    other.write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"weights\.h5: not a \.keras model file"):
        load_model_file(other)
