"""The examples an explanation looks at: raw inputs by name, targets, row numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dltrain.data.spec import DataSpec

__all__ = ["RunKind", "Sample", "run_kind"]


@dataclass
class Sample:
    """Rows of one split, as the saved model takes them (raw inputs) and as it was scored."""

    inputs: dict[str, np.ndarray]
    """Raw inputs by the model's input names (numbers, category strings, text, pixels)."""
    y: Any
    """The targets as ``model.evaluate`` takes them (one-hot where the run trained so)."""
    labels: np.ndarray
    """The first target per row: a class index, or the value of a regression target."""
    rows: np.ndarray
    """Each example's row number in the split."""
    split_size: int

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class RunKind:
    """What a run's model takes, as far as explaining goes."""

    images: bool
    """One raw input of rank 2 or more (pixels, a spectrogram)."""
    numeric: tuple[str, ...]
    """CSV inputs of numbers (differentiable in their raw units)."""
    token_columns: tuple[str, ...]
    """CSV text columns in ``output_mode: int`` (token ids into an Embedding)."""
    columns: tuple[str, ...]
    """Every raw CSV column."""
    classification: bool

    def describe(self) -> str:
        """What the run has, in the words an error message uses."""
        if self.images:
            return "an image input"
        parts = [
            f"numeric inputs ({', '.join(self.numeric)})" if self.numeric else "no numeric input"
        ]
        parts.append(
            f"int-mode text columns ({', '.join(self.token_columns)})"
            if self.token_columns
            else "no int-mode text column"
        )
        return f"a table of {len(self.columns)} columns, " + ", ".join(parts)


def run_kind(spec: DataSpec) -> RunKind:
    """Classify a run by its data spec (``data_spec.json``; no TensorFlow)."""
    images = len(spec.raw_inputs) == 1 and len(spec.raw_inputs[0].shape) >= 2
    numeric = tuple(
        info.name for info in spec.raw_inputs if info.columns and info.dtype.startswith("float")
    )
    tokens = tuple(
        name for name, settings in spec.text.items() if settings.get("output_mode") == "int"
    )
    columns = tuple(c for info in spec.raw_inputs for c in info.columns)
    task = spec.targets[0].task if spec.targets else "regression"
    return RunKind(images, numeric, tokens, columns, task != "regression")
