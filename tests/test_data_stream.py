"""``stream: true`` agrees with the in-memory loader; real Fashion-MNIST (slow, optional)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_indexed_csv, write_regression_csv

from dltrain.config import config_from_dict
from dltrain.config.schema import CsvData, ExperimentConfig
from dltrain.data import load_datasets
from dltrain.data.csv.arrays import load_csv_arrays
from dltrain.data.csv.layout import resolve_sources

tf = pytest.importorskip("tensorflow")

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _config(data: dict[str, Any]) -> ExperimentConfig:
    return config_from_dict({"data": data, "model": {"layers": ["Flatten"]}}).config


def _pair(path: Path, **extra: Any) -> tuple[Any, Any]:
    base = {"kind": "csv", "path": str(path), "target": "y", "categorical": ["color"], **extra}
    memory = load_datasets(_config(base))
    stream = load_datasets(_config({**base, "stream": True, "chunk_rows": 17}))
    return memory, stream


@pytest.mark.parametrize("missing", ["mean", "drop"])
def test_stream_matches_memory(tmp_path: Path, missing: str) -> None:
    path = write_regression_csv(tmp_path / "r.csv", n=200, missing=True)
    memory, stream = _pair(path, missing=missing)
    assert (memory.train_size, memory.validation_size, memory.test_size) == (
        stream.train_size,
        stream.validation_size,
        stream.test_size,
    )
    csv = _config(
        {
            "kind": "csv",
            "path": str(path),
            "target": "y",
            "categorical": ["color"],
            "missing": missing,
        }
    ).data
    assert isinstance(csv, CsvData)
    expected = load_csv_arrays(csv, resolve_sources(csv), 42).stats
    got = stream.source.stats
    assert got.rows == expected.rows == memory.train_size
    for column in ("x1", "x2"):
        assert got.mean[column] == pytest.approx(expected.mean[column], rel=1e-9)
        assert got.variance[column] == pytest.approx(expected.variance[column], rel=1e-9)
    assert got.vocab == expected.vocab and got.mode == expected.mode
    assert stream.spec.model_inputs == memory.spec.model_inputs
    assert stream.spec.raw_inputs == memory.spec.raw_inputs
    np.testing.assert_allclose(stream.test_targets()[0], memory.test_targets()[0])
    xs_m = np.concatenate([x["features"].numpy() for x, _ in memory.test_dataset(16)])
    xs_s = np.concatenate([x["features"].numpy() for x, _ in stream.test_dataset(16)])
    np.testing.assert_allclose(xs_m, xs_s)
    assert (
        memory.fingerprint["splits"]["train"]["examples"]
        == stream.fingerprint["splits"]["train"]["examples"]
    )


def test_stream_epochs_cover_training_rows_and_resume(tmp_path: Path) -> None:
    path = write_regression_csv(tmp_path / "r.csv", n=150)
    memory, stream = _pair(path)
    train, steps = stream.train_dataset(10, seed=4, epochs=3)
    batches = list(train)
    assert len(batches) == 3 * steps
    assert [int(x["features"].shape[0]) for x, _ in batches[:steps]][-1] == (
        stream.train_size - 10 * (steps - 1)
    )
    epochs = [
        np.concatenate([x["features"].numpy() for x, _ in batches[e * steps : (e + 1) * steps]])
        for e in range(3)
    ]
    reference = np.sort(memory.source.x["train"]["features"][:, 0])
    for rows in epochs:
        np.testing.assert_allclose(np.sort(rows[:, 0]), reference)
    assert not np.array_equal(epochs[0], epochs[1])
    resumed, _ = stream.train_dataset(10, seed=4, start_epoch=2, epochs=3)
    np.testing.assert_array_equal(
        np.concatenate([x["features"].numpy() for x, _ in resumed]), epochs[2]
    )


@pytest.mark.slow
@pytest.mark.realdata
def test_real_fashion_mnist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not all(
        (FASHION / f"{n}.gz").is_file()
        for n in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ):
        pytest.skip(
            f"real Fashion-MNIST not installed in {FASHION} (Debian: dataset-fashion-mnist)"
        )
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DLTRAIN_DATA_DIR", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    ds = load_datasets(_config({"kind": "fashion_mnist"}))
    assert (ds.train_size, ds.test_size, ds.validation_size) == (60000, 10000, 10000)
    splits = ds.fingerprint["splits"]
    assert splits["train"]["shapes"]["image"] == [60000, 28, 28]
    assert set(splits["train"]["class_counts"]["label"].values()) == {6000}
    assert set(splits["test"]["class_counts"]["label"].values()) == {1000}
    assert splits["train"]["class_counts"]["label"]["Ankle boot"] == 6000
    assert [f["name"] for f in ds.fingerprint["files"]][0] == "train-images-idx3-ubyte.gz"
    x, y = next(iter(ds.test_dataset(32)))
    assert x.shape == (32, 28, 28) and y.shape == (32, 10)


def test_stream_shuffle_mixes_chunks_and_repeats_per_seed_and_epoch(tmp_path: Path) -> None:
    path = write_indexed_csv(tmp_path / "i.csv", n=300)
    config = _config(
        {"kind": "csv", "path": str(path), "target": "y", "stream": True, "chunk_rows": 10}
    )
    stream = load_datasets(config)

    def order(start_epoch: int, epochs: int) -> np.ndarray:
        train, _ = stream.train_dataset(8, seed=5, start_epoch=start_epoch, epochs=epochs)
        return np.concatenate([x.numpy()[:, 0] for x, _ in train]).astype(int)

    first = order(0, 1)
    assert sorted(first.tolist()) == sorted(set(first.tolist()))  # each row once
    assert len(first) == stream.train_size
    # Rows i of data chunk i // 10: the first batch already holds rows of several chunks.
    assert len({i // 10 for i in first[:8]}) > 1
    assert np.array_equal(first, order(0, 1))
    both = order(0, 2)
    assert np.array_equal(both[: len(first)], first)
    assert np.array_equal(both[len(first) :], order(1, 2))
    assert not np.array_equal(both[len(first) :], first)
