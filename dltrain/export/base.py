"""What every format module shares: the tensors an artifact reports, and what a runtime is.

Format modules (:mod:`~dltrain.export.saved_model`, :mod:`~dltrain.export.litert`,
:mod:`~dltrain.export.onnx_format`) import this module and nothing else of ``export`` but
each other, so the table in :mod:`dltrain.export.formats` can import them without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dltrain.errors import ExportError, first_line

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Runtime", "TensorInfo", "conversion_error"]


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


def conversion_error(option: str, exc: BaseException) -> ExportError:
    """A converter's failure, as one message: its first line and the format to use instead."""
    return ExportError(
        f"{option}: the converter refused the model ({first_line(exc)}); use --format saved_model, "
        "which keeps every TensorFlow operation"
    )
