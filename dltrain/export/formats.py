"""The formats ``dltrain export`` writes: one :class:`Format` record each, in :data:`FORMATS`.

Every place that depends on the format reads this table: option checks and their messages,
default and checked output paths, the packages to require, the writer, the runtime that
verifies and predicts, and recognising an artifact on disk. Adding a format is one entry here
(plus its own module with a writer and a runtime), as in Ultralytics' ``export_formats()``.
Importing it does not import TensorFlow: the format modules import it inside their functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dltrain.export.base import Runtime
from dltrain.export.litert import LiteRtRuntime, write_tflite
from dltrain.export.onnx_format import OnnxRuntime, onnx_opset, write_onnx
from dltrain.export.saved_model import SavedModelRuntime, write_saved_model

if TYPE_CHECKING:
    import keras
    import numpy as np

__all__ = ["FORMATS", "QUANTIZATIONS", "Format", "Writer", "artifact_format", "missing_marker"]

Writer = Callable[["keras.Model", Path, str, "dict[str, np.ndarray]"], None]
"""``write(model, path, quantize, calibration)``: the artifact of a raw-input model at ``path``
(``calibration``: training examples by input name, for int8 only)."""


@dataclass(frozen=True)
class Format:
    """One export format: how it is named, written, installed, loaded and recognised."""

    name: str
    """The ``--format`` value."""
    title: str
    """How messages name it (``SavedModel``)."""
    suffix: str
    """Of the default artifact name; a one-file artifact must end with it."""
    packages: Mapping[str, str]
    """Import name -> pip name of the converter and the runtime (every export is verified)."""
    write: Writer
    load: Callable[[Path], Runtime]
    """The artifact in its own runtime (raises the runtime's own errors)."""
    quantizations: tuple[str, ...] = ("none",)
    """``--quantize`` values it takes; ``none`` alone: float32 only."""
    marker: str | None = None
    """For an artifact that is a folder: the file inside that identifies it (else one file)."""
    opset: Callable[[Path], int] | None = None
    """The operator set an artifact was written for, recorded in ``export.json``."""
    no_text: str | None = None
    """Why it cannot carry a string input (a categorical CSV column); ``None``: it can."""
    no_free_text: str | None = None
    """Why it cannot carry a free-text CSV column (``TextVectorization``); ``None``: it can."""

    @property
    def folder(self) -> bool:
        """Whether the artifact is a folder rather than one file."""
        return self.marker is not None


def _float32(write: Callable[[keras.Model, Path], None]) -> Writer:
    """The writer of a format without quantization (options are checked before it runs)."""

    def writer(
        model: keras.Model, path: Path, quantize: str, calibration: dict[str, np.ndarray]
    ) -> None:
        write(model, path)

    return writer


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            name="saved_model",
            title="SavedModel",
            suffix=".saved_model",
            packages={},
            write=_float32(write_saved_model),
            load=SavedModelRuntime,
            marker="saved_model.pb",
        ),
        Format(
            name="tflite",
            title="TFLite",
            suffix=".tflite",
            packages={"ai_edge_litert": "ai-edge-litert"},
            write=write_tflite,
            load=LiteRtRuntime,
            quantizations=("none", "dynamic", "float16", "int8"),
            no_free_text=(
                "TFLite has no built-in operations for TextVectorization's string "
                "standardizing and splitting (StringLower, RegexReplace, StringSplit)"
            ),
        ),
        Format(
            name="onnx",
            title="ONNX",
            suffix=".onnx",
            packages={"tf2onnx": "tf2onnx", "onnxruntime": "onnxruntime", "onnx": "onnx"},
            write=_float32(write_onnx),
            load=OnnxRuntime,
            opset=onnx_opset,
            no_text="tf2onnx does not convert the category lookup (StringLookup) inside the model",
            no_free_text="tf2onnx does not convert TextVectorization's string operations",
        ),
    )
}
"""Every format by name, in the order messages list them."""

QUANTIZATIONS = tuple(dict.fromkeys(q for f in FORMATS.values() for q in f.quantizations))
"""Every ``--quantize`` value some format takes."""


def artifact_format(path: Path) -> str | None:
    """The format's name when ``path`` is an exported artifact, else ``None``.

    A folder is recognised by its marker file (whatever its name), a file by its suffix.
    """
    for fmt in FORMATS.values():
        if fmt.marker is not None and path.is_dir() and (path / fmt.marker).is_file():
            return fmt.name
        if fmt.marker is None and not path.is_dir() and path.suffix == fmt.suffix:
            return fmt.name
    return None


def missing_marker(path: Path) -> Format | None:
    """The format of a folder export that lacks its marker file, else ``None``.

    Such a folder is named like the format's exports (``best.saved_model``) or has an
    ``export.json`` beside it, and is no run folder (no ``run.json``).
    """
    if not path.is_dir() or (path / "run.json").exists():
        return None
    for fmt in FORMATS.values():
        if fmt.marker is None or (path / fmt.marker).is_file():
            continue
        if path.suffix == fmt.suffix or path.with_name(path.name + ".export.json").is_file():
            return fmt
    return None
