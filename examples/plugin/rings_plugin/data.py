"""``data.kind: rings``: concentric rings of 2-D points, one class per ring (generated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

import dltrain
from dltrain.data import Datasets, datasets_from_arrays
from dltrain.errors import DataError

COLUMNS = ("x1", "x2")


class RingsData(BaseModel):
    """Points on noisy concentric rings; the class is the ring."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    examples: PositiveInt = 600
    """Points in the training split (the test split gets a quarter of that)."""
    rings: int = Field(default=3, ge=2, le=10)
    """Number of rings, and so of classes."""
    noise: float = Field(default=0.1, ge=0, lt=0.5)
    """Standard deviation of the radial noise (rings are 1 apart)."""
    validation: float | None = Field(default=0.2, gt=0, lt=1)
    """Share of the training points held out for validation; null for none."""


def _points(n: int, section: RingsData, rng: np.random.Generator) -> tuple[Any, Any]:
    labels = rng.integers(0, section.rings, size=n)
    radius = labels + 1 + rng.normal(0.0, section.noise, size=n)
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x.astype(np.float32), labels


def _read_csv(path: Path) -> tuple[Any, Any]:
    """``x1,x2,ring`` rows (as ``dltrain eval --data`` passes)."""
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: expected a CSV with columns x1,x2,ring ({exc})") from None
    return table[:, :2].astype(np.float32), table[:, 2].astype(np.int64)


@dltrain.register_dataset("rings", config=RingsData)
def load_rings(section: RingsData, config: Any, test_path: Path | None) -> Datasets:
    """Generate the splits from the experiment's seed (the same points on every run)."""
    rng = np.random.default_rng(config.seed)
    train = _points(section.examples, section, rng)
    test = _read_csv(test_path) if test_path else _points(section.examples // 4, section, rng)
    splits = {"train": train, "test": test}
    if section.validation:
        held = int(round(section.examples * section.validation))
        splits["validation"] = (train[0][:held], train[1][:held])
        splits["train"] = (train[0][held:], train[1][held:])
    return datasets_from_arrays(
        config,
        splits,
        task="multiclass",
        class_names=[f"ring{i + 1}" for i in range(section.rings)],
        columns=COLUMNS,
        target_name="ring",
        files=[test_path] if test_path else [],
    )
