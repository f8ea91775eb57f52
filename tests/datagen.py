"""Tiny, learnable MNIST-format and CSV data written into temporary folders (no downloads)."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MLP",
    "REGRESSION",
    "RUN_CONFIG",
    "TINY_MLP",
    "make_images",
    "write_classification_csv",
    "write_idx",
    "write_indexed_csv",
    "write_mnist_idx_dir",
    "write_mnist_npz",
    "write_regression_csv",
    "run_folder_command",
    "write_run_folder",
    "write_text",
    "tiny_mlp",
]


def make_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 uint8 images whose class (0-9) is a bright block at a class-specific spot."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        images[i, 4 + row * 12 : 12 + row * 12, 2 + col * 5 : 6 + col * 5] = 250
    return images, labels


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """Write a uint8 array in IDX format (``.gz`` compressed when ``gz``)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(blob))
    else:
        path.write_bytes(blob)
    return path


def write_mnist_idx_dir(
    folder: Path, n_train: int = 256, n_test: int = 64, gz: bool = True
) -> Path:
    """The four MNIST IDX files, Keras/LeCun names, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = make_images(n_train, seed=1)
    x_test, y_test = make_images(n_test, seed=2)
    write_idx(folder / "train-images-idx3-ubyte", x_train, gz)
    write_idx(folder / "train-labels-idx1-ubyte", y_train, gz)
    write_idx(folder / "t10k-images-idx3-ubyte", x_test, gz)
    write_idx(folder / "t10k-labels-idx1-ubyte", y_test, gz)
    return folder


def write_mnist_npz(path: Path, n_train: int = 256, n_test: int = 64) -> Path:
    """A Keras-layout ``mnist.npz`` (x_train, y_train, x_test, y_test)."""
    x_train, y_train = make_images(n_train, seed=1)
    x_test, y_test = make_images(n_test, seed=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def write_regression_csv(path: Path, n: int = 300, seed: int = 0, missing: bool = False) -> Path:
    """``y = 3*x1 - 2*x2 + 5*[color==red] + noise`` with a text column ``color``."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(10, 3, n)
    x2 = rng.normal(-2, 1, n)
    color = rng.choice(["red", "green", "blue"], n)
    y = 3 * x1 - 2 * x2 + 5 * (color == "red") + rng.normal(0, 0.5, n)
    lines = ["x1,x2,color,y"]
    for i in range(n):
        a = "" if missing and i % 37 == 5 else f"{x1[i]:.4f}"
        lines.append(f"{a},{x2[i]:.4f},{color[i]},{y[i]:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_classification_csv(
    path: Path, n: int = 300, classes: tuple[str, ...] = ("a", "b", "c"), seed: int = 0
) -> Path:
    """Points around one center per class; ``label`` holds the class name."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(classes), n)
    centers = rng.normal(0, 4, (len(classes), 2))
    points = centers[labels] + rng.normal(0, 0.7, (n, 2))
    lines = ["f1,f2,label"]
    lines += [f"{p[0]:.4f},{p[1]:.4f},{classes[c]}" for p, c in zip(points, labels, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_indexed_csv(path: Path, n: int = 40) -> Path:
    """Columns ``i`` (the data row index, as a number) and ``y = 2*i``: rows identify themselves."""
    lines = ["i,y"] + [f"{i},{2 * i}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (a small hand-made CSV, for error cases) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


RUN_CONFIG: dict[str, Any] = {
    "name": "faults",
    "seed": 1,
    "data": {"kind": "csv", "path": "/nonexistent/faults.csv", "target": "y"},
    "model": {"layers": [{"Dense": {"units": 1}}]},
    "training": {"epochs": 2},
}
"""The config :func:`write_run_folder` records (its data file does not exist)."""


def write_run_folder(root: Path, stamp: str = "20250101T000000Z") -> Path:
    """A run folder as dltrain leaves one stopped after epoch 1 of 2, made without training.

    ``root/faults/<stamp>/`` with run.json, the resolved config.yaml, metrics.csv and a
    ``checkpoints/best.keras`` that is not a model: enough for commands that read run
    folders to get as far as their checks.
    """
    from dltrain.config import config_from_dict

    run = root / "faults" / stamp
    (run / "checkpoints").mkdir(parents=True)
    manifest = {"schema_version": 2, "status": "interrupted", "name": "faults",
                "epochs_planned": 2, "epochs_completed": 1}
    (run / "run.json").write_text(json.dumps(manifest))
    (run / "config.yaml").write_text(config_from_dict(RUN_CONFIG).to_yaml())
    (run / "metrics.csv").write_text("epoch,loss,val_loss\n1,0.5,0.6\n")
    (run / "checkpoints" / "best.keras").write_bytes(b"not a model")
    return run


def run_folder_command(command: str, run: Path, other: Path, data: Path) -> list[str]:
    """The arguments of ``command`` (compare, eval, predict, resume, runs) on ``run``.

    ``other`` is the second run for ``compare``, ``data`` the input file for ``predict``;
    the comparison plot goes beside ``data``.
    """
    return {
        "compare": ["compare", str(run), str(other), "--plot", str(data.parent / "c.png")],
        "eval": ["eval", str(run)],
        "predict": ["predict", str(run), str(data)],
        "resume": ["run", "--resume", str(run), "-q"],
        "runs": ["runs", str(run.parent.parent)],
    }[command]


_PATH = "<path>"


def _yaml_float(value: float) -> str:
    # YAML 1.1 (PyYAML) reads "1e-05" as a string: write small rates out in full.
    text = repr(value)
    return f"{value:.12f}".rstrip("0") if "e" in text else text


def tiny_mlp(
    *,
    name: str | None = None,
    seed: int | None = 3,
    validation: float | None = 0.2,
    units: int = 16,
    dropout: float | None = None,
    learning_rate: float = 0.001,
    epochs: int = 2,
    batch_size: int = 32,
    jit: bool | None = False,
) -> str:
    """A tiny MNIST MLP config: Flatten, Dense(``units``, relu), an optional Dropout, and a
    10-way softmax, trained with Adam on categorical cross-entropy with accuracy.

    ``jit`` is ``training.jit_compile``: off by default (compiling these tiny models' steps
    with XLA costs more than their training; tests about XLA pass ``None`` for the default
    ``auto``, which turns it on for a dense model on CPU).

    The result is a template: ``.format(path=...)`` names the npz, and its braces are doubled,
    so a caller can append more templated YAML before formatting. ``None`` leaves a key out
    (the schema's default then applies).
    """
    hidden = [f"Dense: {{units: {units}, activation: relu}}"]
    if dropout is not None:
        hidden.append(f"Dropout: {{rate: {_yaml_float(dropout)}}}")
    split = "" if validation is None else f", validation: {validation}"
    lines = [f"name: {name}"] if name else []
    lines += [f"seed: {seed}"] if seed is not None else []
    lines += [
        f"data: {{kind: mnist, path: {_PATH}{split}}}",
        "model:",
        "  input_shape: [28, 28]",
        "  layers:",
        "    - Flatten: {}",
        *(f"    - {layer}" for layer in hidden),
        "    - Dense: {units: 10, activation: softmax}",
        f"optimizer: {{name: adam, learning_rate: {_yaml_float(learning_rate)}}}",
        "loss: categorical_crossentropy",
        "metrics: [accuracy]",
        f"training: {{epochs: {epochs}, batch_size: {batch_size}"
        + ("" if jit is None else f", jit_compile: {str(jit).lower()}")
        + "}",
    ]
    text = "\n".join(lines) + "\n"
    return text.replace("{", "{{").replace("}", "}}").replace(_PATH, "{path}")


TINY_MLP = tiny_mlp()
"""Two quick epochs, 20% held out for validation (format with ``path=...``)."""

MLP = tiny_mlp(
    name="tiny_mlp", seed=None, validation=None, units=32, learning_rate=0.003, jit=None
)
"""The MLP of the end-to-end tests: 32 hidden units, no validation key (format with ``path``)."""

REGRESSION = """\
name: tiny_reg
data:
  kind: csv
  train_path: {train}
  test_path: {test}
  target: y
  categorical: [color]
  missing: mean
  validation: 0.2
  task: regression
model:
  type: functional
  inputs: {{features: {{}}}}
  layers:
    - {{name: h1, Dense: {{units: 16, activation: relu}}, inputs: features}}
    - {{name: out, Dense: {{units: 1}}, inputs: h1}}
  outputs: [out]
optimizer: {{name: adam, learning_rate: 0.01}}
training: {{epochs: 2, batch_size: 16, jit_compile: false}}
"""
"""A tiny functional regression on :func:`write_regression_csv` files (format with
``train=...`` and ``test=...``)."""
