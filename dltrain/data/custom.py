"""Datasets from in-memory arrays: what a plugin's dataset loader returns (no TensorFlow here).

A loader registered with :func:`dltrain.register_dataset` reads or generates NumPy arrays and
hands them to :func:`datasets_from_arrays`, which builds the same :class:`Datasets` the
built-in kinds return (seeded shuffling, exact resume, fingerprints in ``run.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.config.schema import ExperimentConfig
from dltrain.data.fingerprint import class_counts, files_fingerprint
from dltrain.data.pipeline import ArraySource, Datasets, resolve_batch
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo, TaskName
from dltrain.errors import DataError

__all__ = ["datasets_from_arrays"]

_SPLITS = ("train", "validation", "test")


def datasets_from_arrays(
    config: ExperimentConfig,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    task: TaskName,
    class_names: Sequence[str] | None = None,
    columns: Sequence[str] = (),
    input_name: str = "features",
    target_name: str = "target",
    files: Sequence[Path] = (),
) -> Datasets:
    """One input and one target per split -> :class:`Datasets`.

    Args:
        config: The experiment (seed, batch size, ``data.kind``).
        splits: ``(x, y)`` for ``train`` and ``test``, and optionally ``validation``. ``x`` is
            ``(examples, ...)`` numbers; ``y`` holds floats (regression), 0/1 (binary) or
            class indices (multiclass).
        task: ``regression``, ``binary`` or ``multiclass``.
        class_names: Names of the classes, in index order (default ``"0"``, ``"1"``, ...).
        columns: For a flat ``x``, the name of each feature, so that ``dltrain predict`` can
            read a CSV with these columns.
        input_name: Name of the model input.
        target_name: Name of the target (prediction CSV column).
        files: Files the data was read from (fingerprinted in ``run.json``).

    Raises:
        DataError: a missing split, or arrays whose lengths or shapes disagree.
    """
    for required in ("train", "test"):
        if required not in splits:
            raise DataError(f"data.kind {config.data.kind!r}: the loader returned no {required!r}")
    unknown = [name for name in splits if name not in _SPLITS]
    if unknown:
        raise DataError(f"data.kind {config.data.kind!r}: unknown split {unknown[0]!r}")
    arrays = {name: _pair(name, *splits[name]) for name in _SPLITS if name in splits}
    shape = arrays["train"][0].shape[1:]
    for name, (x, _) in arrays.items():
        if x.shape[1:] != shape:
            raise DataError(f"split {name!r}: examples of shape {x.shape[1:]}, train has {shape}")
    if columns and (len(shape) != 1 or len(columns) != shape[0]):
        raise DataError(f"{len(columns)} column names for examples of shape {shape}")
    names = None
    if task != "regression":
        count = max(int(y.max(initial=0)) for _, y in arrays.values()) + 1
        names = tuple(class_names) if class_names else tuple(str(i) for i in range(count))
    info = InputInfo(input_name, tuple(int(d) for d in shape), "float32", tuple(columns))
    target = TargetInfo(target_name, task, len(names) if names else None, names)
    spec = DataSpec(config.data.kind, [info], [info], [target])
    plain = {
        k: [y.astype(np.float32 if task == "regression" else np.int64)]
        for k, (_, y) in arrays.items()
    }
    source = ArraySource(
        x={k: {input_name: x} for k, (x, _) in arrays.items()},
        y={k: [_model_target(y, task)] for k, (_, y) in arrays.items()},
        plain=plain,
    )
    fingerprint: dict[str, Any] = {
        "kind": config.data.kind,
        "files": files_fingerprint(files),
        "splits": {k: _split_facts(x, plain[k][0], names) for k, (x, _) in arrays.items()},
    }
    train_size = len(arrays["train"][1])
    return Datasets(
        spec=spec,
        train_size=train_size,
        validation_size=len(arrays["validation"][1]) if "validation" in arrays else 0,
        test_size=len(arrays["test"][1]),
        fingerprint=fingerprint,
        batch_size=resolve_batch(config.training.batch_size, train_size),
        source=source,
        validation_split="validation" if "validation" in arrays else None,
    )


def _pair(name: str, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x_arr = np.asarray(x, dtype=np.float32)
    y_arr = np.asarray(y).reshape(-1)
    if x_arr.ndim < 2 or len(x_arr) != len(y_arr) or not len(y_arr):
        raise DataError(
            f"split {name!r}: expected x of shape (examples, ...) and one label per example; "
            f"received x {x_arr.shape} and y {y_arr.shape}"
        )
    return x_arr, y_arr


def _model_target(y: np.ndarray, task: TaskName) -> np.ndarray:
    """Labels as the model's loss takes them (integer classes for sparse cross-entropy)."""
    if task == "multiclass":
        return y.astype(np.int32)
    return y.astype(np.float32).reshape(-1, 1)


def _split_facts(x: np.ndarray, labels: np.ndarray, names: tuple[str, ...] | None) -> Any:
    facts: dict[str, Any] = {"examples": int(len(labels)), "shapes": {"x": list(x.shape)}}
    if names:
        facts["class_counts"] = class_counts(labels, names)
    return facts
