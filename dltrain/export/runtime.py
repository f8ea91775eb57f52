"""An exported artifact loaded in its own runtime, and how to tell which runtime a path needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from dltrain.errors import CheckpointError, first_line

__all__ = ["Runtime", "TensorInfo", "artifact_format", "open_runtime", "predict_in_batches"]


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of an artifact, as its runtime reports it (``None``: any size)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str


class Runtime(Protocol):
    """A loaded artifact: raw inputs by name in, outputs in the Keras model's order out."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def predict(self, x: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs for one batch."""
        ...


def artifact_format(path: Path) -> str | None:
    """``saved_model``, ``tflite`` or ``onnx`` when ``path`` is an exported artifact, else None."""
    if path.is_dir():
        return "saved_model" if (path / "saved_model.pb").is_file() else None
    return {".tflite": "tflite", ".onnx": "onnx"}.get(path.suffix)


def open_runtime(path: Path, fmt: str) -> Runtime:
    """Load ``path`` with the runtime of ``fmt``.

    Raises:
        CheckpointError: the artifact cannot be loaded.
    """
    try:
        if fmt == "saved_model":
            from dltrain.export.saved_model import SavedModelRuntime

            return SavedModelRuntime(path)
        if fmt == "tflite":
            from dltrain.export.litert import LiteRtRuntime

            return LiteRtRuntime(path)
        from dltrain.export.onnx_format import OnnxRuntime

        return OnnxRuntime(path)
    except Exception as exc:  # noqa: BLE001 - each runtime raises its own exception types
        raise CheckpointError(f"{path}: cannot be loaded as {fmt} ({first_line(exc)})") from exc


def predict_in_batches(
    runtime: Runtime, x: dict[str, np.ndarray], batch: int = 256
) -> list[np.ndarray]:
    """Outputs for every example of ``x``, ``batch`` examples per runtime call."""
    n = len(next(iter(x.values())))
    parts: list[list[np.ndarray]] = []
    for start in range(0, n, batch):
        parts.append(runtime.predict({k: v[start : start + batch] for k, v in x.items()}))
    return [np.concatenate(column) for column in zip(*parts, strict=True)]
