"""The data stage's entry points: config -> :class:`Datasets` (and the spec alone)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dltrain.config.schema import CsvData, ExperimentConfig, FolderData, MnistData
from dltrain.config.yaml_source import SourceMap
from dltrain.data.config_keys import locate
from dltrain.data.csv.arrays import SplitArrays, load_csv_arrays
from dltrain.data.csv.layout import resolve_sources
from dltrain.data.fingerprint import class_counts, file_fingerprint, files_fingerprint
from dltrain.data.mnist import (
    INPUT_NAME,
    describe_mnist,
    find_idx_files,
    load_image_file,
    load_mnist,
)
from dltrain.data.pipeline import ArraySource, Datasets, resolve_batch
from dltrain.data.sharing import shared_load
from dltrain.data.spec import DataSpec, TargetInfo
from dltrain.errors import DataError
from dltrain.plugins import dataset_kind

__all__ = ["describe_data", "load_datasets"]


def describe_data(config: ExperimentConfig) -> DataSpec | None:
    """The spec the config alone implies, without reading any file.

    Returns:
        For MNIST-format data the full spec (image shape, 10 classes and their names);
        ``None`` for CSV, whose columns are only known from the file, and for image and
        audio folders, whose classes are.
    """
    if isinstance(config.data, MnistData):
        return describe_mnist(config.data)
    return None


def load_datasets(
    config: ExperimentConfig,
    *,
    test_path: Path | None = None,
    source: SourceMap | None = None,
) -> Datasets:
    """Read the configured data and return its splits as tf.data pipelines plus a spec.

    Args:
        config: A validated config (paths already absolute).
        test_path: Evaluate on this file (same format as the configured data) instead of the
            configured test split, as ``dltrain eval --data`` does.
        source: Where the config's values were written (``LoadedConfig.source``); errors about
            a config value (``data.path``, ``data.target``) then name that file and line.

    Inside a :func:`dltrain.data.sharing.sharing_datasets` block, data already loaded there
    for the same ``data`` section and ``seed`` is returned again instead of read again.

    Raises:
        DataError: missing, corrupt or ill-fitting data, with file (and row/column) named.
    """
    try:
        return shared_load(config, test_path, _load)
    except DataError as exc:
        located = locate(exc, source)
        if located is exc:
            raise
        raise located from None


def _load(config: ExperimentConfig, test_path: Path | None) -> Datasets:
    data = config.data
    if isinstance(data, MnistData):
        return _load_mnist(data, config, test_path)
    if isinstance(data, FolderData):
        from dltrain.data.folders.load import load_folder

        return load_folder(config, test_path)
    if not isinstance(data, CsvData):
        return _load_registered(config, test_path)
    if data.stream:
        from dltrain.data.csv.stream import load_stream

        return load_stream(data, config, test_path)
    return _load_csv(data, config, test_path)


def _load_registered(config: ExperimentConfig, test_path: Path | None) -> Datasets:
    """A ``data.kind`` registered by a plugin: its own loader builds the Datasets."""
    kind = dataset_kind(config.data.kind)
    if kind is None:
        raise DataError(f"data.kind {config.data.kind!r} is not registered by any import")
    datasets = kind.load(config.data, config, test_path)
    if not isinstance(datasets, Datasets):
        raise DataError(
            f"the loader of data.kind {kind.kind!r} ({kind.module}) returned "
            f"{type(datasets).__name__}, not Datasets (see dltrain.data.datasets_from_arrays)"
        )
    return datasets


def _split_fingerprint(
    x: dict[str, np.ndarray], labels: list[np.ndarray], targets: list[TargetInfo]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "examples": int(len(labels[0])) if labels else 0,
        "shapes": {name: list(array.shape) for name, array in x.items()},
    }
    counts = {
        t.name: class_counts(lab, t.class_names)
        for t, lab in zip(targets, labels, strict=True)
        if t.class_names
    }
    if counts:
        out["class_counts"] = counts
    return out


def _hold_out(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: a seeded ``fraction`` of ``n``, both in original order."""
    count = int(round(n * fraction))
    if count < 1 or count >= n:
        raise DataError(
            f"data.validation: {fraction} of {n} training examples leaves an empty split; "
            "use another fraction or more data"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[count:]), np.sort(order[:count])


def _image_files(path: Path) -> list[Path]:
    if path.is_dir():
        return list(find_idx_files(path).values())
    sibling = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
    return [path] + ([sibling] if sibling != path and sibling.is_file() else [])


def _load_mnist(data: MnistData, config: ExperimentConfig, test_path: Path | None) -> Datasets:
    spec = describe_mnist(data)
    arrays = load_mnist(data)
    x_train, y_train = arrays.x_train, arrays.y_train
    x_test, y_test = arrays.x_test, arrays.y_test
    files = list(arrays.files)
    if test_path is not None:
        images, labels = load_image_file(test_path, labels=True)
        assert labels is not None
        x_test, y_test = images, labels
        files += _image_files(test_path)
    if data.limit:
        x_train, y_train = x_train[: data.limit], y_train[: data.limit]
        x_test, y_test = x_test[: data.limit], y_test[: data.limit]
    splits = {"train": (x_train, y_train), "test": (x_test, y_test)}
    validation_split: str | None = None
    if data.validation == "test":
        validation_split = "test"
    elif data.validation is not None:
        keep, held = _hold_out(len(x_train), data.validation, config.seed)
        splits["validation"] = (x_train[held], y_train[held])
        splits["train"] = (x_train[keep], y_train[keep])
        validation_split = "validation"
    if data.channel_axis:
        # A view: the uint8 arrays are not copied.
        splits = {k: (x[..., np.newaxis], y) for k, (x, y) in splits.items()}
    source = ArraySource(
        x={k: {INPUT_NAME: x} for k, (x, _) in splits.items()},
        y={k: [y if data.one_hot else y.astype(np.int32)] for k, (_, y) in splits.items()},
        plain={k: [y.astype(np.int64)] for k, (_, y) in splits.items()},
        scale=1.0 / 255.0 if data.scale else 1.0,
        one_hot=[10 if data.one_hot else None],
    )
    fingerprint = {
        "kind": data.kind,
        "source": arrays.source,
        "files": files_fingerprint(files),
        "splits": {
            k: _split_fingerprint({INPUT_NAME: x}, [y.astype(np.int64)], spec.targets)
            for k, (x, y) in splits.items()
        },
    }
    train_size = len(splits["train"][1])
    return Datasets(
        spec=spec,
        train_size=train_size,
        validation_size=len(splits[validation_split][1]) if validation_split else 0,
        test_size=len(splits["test"][1]),
        fingerprint=fingerprint,
        batch_size=resolve_batch(config.training.batch_size, train_size),
        source=source,
        validation_split=validation_split,
    )


def _load_csv(data: CsvData, config: ExperimentConfig, test_path: Path | None) -> Datasets:
    sources = resolve_sources(data, test_path)
    loaded = load_csv_arrays(data, sources, config.seed)
    splits: dict[str, SplitArrays] = loaded.splits
    source = ArraySource(
        x={k: s.x for k, s in splits.items()},
        y={k: s.y for k, s in splits.items()},
        plain={k: s.labels for k, s in splits.items()},
    )
    split_prints = {
        k: _split_fingerprint(s.x, s.labels, loaded.spec.targets) for k, s in splits.items()
    }
    for k, count in loaded.groups.items():
        if k in split_prints:
            split_prints[k]["groups"] = count
    fingerprint = {
        "kind": "csv",
        "files": [file_fingerprint(p) for p in loaded.files],
        "splits": split_prints,
        **sources.fingerprint(),
    }
    if loaded.stats.text:
        fingerprint["text"] = {
            column: {"vocabulary_size": len(vocab.vocabulary), "vocabulary_sha256": vocab.sha256}
            for column, vocab in loaded.stats.text.items()
        }
    if loaded.summary is not None:
        fingerprint["summary"] = loaded.summary.to_json()
    train_size = len(splits["train"])
    validation = splits.get("validation")
    return Datasets(
        spec=loaded.spec,
        train_size=train_size,
        validation_size=len(validation) if validation is not None else 0,
        test_size=len(splits["test"]),
        fingerprint=fingerprint,
        batch_size=resolve_batch(config.training.batch_size, train_size),
        warnings=loaded.warnings,
        source=source,
        validation_split="validation" if validation is not None else None,
        summary=loaded.summary.lines() if loaded.summary is not None else [],
    )
