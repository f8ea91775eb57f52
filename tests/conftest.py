"""Shared fixtures: generated data in temporary folders, and a quiet TensorFlow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from datagen import (  # noqa: E402
    write_classification_csv,
    write_mnist_idx_dir,
    write_mnist_npz,
    write_regression_csv,
)


@pytest.fixture
def mnist_npz(tmp_path: Path) -> Path:
    """A small learnable Keras-layout mnist.npz."""
    return write_mnist_npz(tmp_path / "data" / "mnist.npz")


@pytest.fixture
def mnist_idx_dir(tmp_path: Path) -> Path:
    """A folder with the four gzipped IDX files."""
    return write_mnist_idx_dir(tmp_path / "idx")


@pytest.fixture
def regression_csv(tmp_path: Path) -> Path:
    """A regression CSV with a text categorical column."""
    return write_regression_csv(tmp_path / "reg.csv")


@pytest.fixture
def classification_csv(tmp_path: Path) -> Path:
    """A three-class CSV with string labels."""
    return write_classification_csv(tmp_path / "cls.csv")
