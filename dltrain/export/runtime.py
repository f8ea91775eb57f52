"""An exported artifact loaded in its own runtime, and fed in batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dltrain.errors import CheckpointError, first_line
from dltrain.export.base import Runtime
from dltrain.export.formats import FORMATS

__all__ = ["open_runtime", "predict_in_batches"]


def open_runtime(path: Path, fmt: str) -> Runtime:
    """Load ``path`` with the runtime of ``fmt``.

    Raises:
        CheckpointError: the artifact cannot be loaded.
    """
    try:
        return FORMATS[fmt].load(path)
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
