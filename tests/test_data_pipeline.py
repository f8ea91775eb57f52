"""tf.data pipelines: structure, scaling, epochs, exact resume, and CSV models that train."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import (
    write_classification_csv,
    write_indexed_csv,
    write_mnist_idx_dir,
    write_mnist_npz,
    write_regression_csv,
    write_text,
)

from dltrain.config import config_from_dict
from dltrain.config.schema import ExperimentConfig
from dltrain.data import Datasets, DataSpec, load_datasets, load_prediction_inputs

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def _config(data: dict[str, Any], **top: Any) -> ExperimentConfig:
    return config_from_dict({"data": data, "model": {"layers": ["Flatten"]}, **top}).config


def _model(spec: DataSpec, units: int = 1, activation: str | None = None) -> Any:
    """A tiny model on the spec: raw inputs -> preprocess -> concat -> Dense."""
    raw = {i.name: keras.Input(shape=i.shape, dtype=i.dtype, name=i.name) for i in spec.raw_inputs}
    inputs = spec.preprocess(raw) if spec.preprocess else raw
    tensors = [keras.layers.Flatten()(t) for t in inputs.values()]
    joined = tensors[0] if len(tensors) == 1 else keras.layers.Concatenate()(tensors)
    out = keras.layers.Dense(units, activation=activation)(joined)
    single = next(iter(raw.values())) if len(raw) == 1 else raw
    return keras.Model(single, out)


# -------------------------------------------------------------------------- images


def test_mnist_pipelines(mnist_npz: Path) -> None:
    data = _config({"kind": "mnist", "path": str(mnist_npz), "validation": 0.25})
    ds = load_datasets(data)
    assert (ds.train_size, ds.validation_size, ds.test_size) == (192, 64, 64)
    assert ds.batch_size == 32
    train, steps = ds.train_dataset(50, seed=0, epochs=2)
    assert steps == 4
    batches = list(train)
    assert [int(x.shape[0]) for x, _ in batches] == [50, 50, 50, 42] * 2
    x, y = batches[0]
    assert (
        x.dtype == tf.float32 and float(tf.reduce_max(x)) <= 1.0 and float(tf.reduce_max(x)) > 0.9
    )
    assert y.shape == (50, 10) and np.allclose(y.numpy().sum(1), 1)
    val = ds.validation_dataset(64)
    assert val is not None and [int(x.shape[0]) for x, _ in val] == [64]
    split = ds.fingerprint["splits"]
    assert (
        split["train"]["examples"] == 192
        and sum(split["test"]["class_counts"]["label"].values()) == 64
    )
    assert (
        ds.fingerprint["files"][0]["name"] == "mnist.npz"
        and len(ds.fingerprint["files"][0]["sha256"]) == 64
    )


def test_mnist_options(mnist_idx_dir: Path) -> None:
    data = {
        "kind": "fashion_mnist",
        "path": str(mnist_idx_dir),
        "one_hot": False,
        "scale": False,
        "channel_axis": True,
        "limit": 40,
        "validation": "test",
    }
    ds = load_datasets(_config(data))
    assert (ds.train_size, ds.test_size, ds.validation_size) == (40, 40, 40)
    x, y = next(iter(ds.test_dataset(8)))
    assert x.shape == (8, 28, 28, 1) and float(tf.reduce_max(x)) > 1.0
    assert y.dtype == tf.int32 and y.shape == (8,)
    np.testing.assert_array_equal(ds.test_targets()[0][:8], y.numpy())
    none = load_datasets(_config({**data, "validation": None}))
    assert none.validation_dataset(8) is None and none.validation_size == 0


def test_full_batch_is_one_batch_per_epoch(mnist_npz: Path) -> None:
    ds = load_datasets(
        _config({"kind": "mnist", "path": str(mnist_npz)}, training={"batch_size": "full"})
    )
    assert ds.batch_size == 256
    train, steps = ds.train_dataset("full", seed=3, epochs=3)
    assert steps == 1 and [int(x.shape[0]) for x, _ in train] == [256, 256, 256]
    one, steps = ds.train_dataset(1, seed=3, epochs=1)
    assert steps == 256


def test_test_path_replaces_test_split(mnist_npz: Path, tmp_path: Path) -> None:
    other = write_mnist_idx_dir(tmp_path / "other", n_train=5, n_test=12)
    ds = load_datasets(_config({"kind": "mnist", "path": str(mnist_npz)}), test_path=other)
    assert ds.test_size == 12 and ds.train_size == 256


# ------------------------------------------------------------------ epochs / resume


class _Recorder(keras.Model):  # type: ignore[misc]
    """Records the raw ``i`` column of every training batch (run eagerly)."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.seen: list[np.ndarray] = []

    def call(self, x: Any) -> Any:
        return self.dense(x)

    def train_step(self, data: Any) -> Any:
        self.seen.append(np.asarray(data[0])[:, 0].astype(int))
        return super().train_step(data)


def _fit_orders(ds: Datasets, start: int, epochs: int, seed: int) -> list[np.ndarray]:
    model = _Recorder()
    model.compile("sgd", "mse", run_eagerly=True)
    train, steps = ds.train_dataset(8, seed=seed, start_epoch=start, epochs=epochs)
    model.fit(
        train, epochs=epochs, initial_epoch=start, steps_per_epoch=steps, verbose=0, shuffle=False
    )
    assert len(model.seen) == steps * (epochs - start)
    return [np.concatenate(model.seen[i * steps : (i + 1) * steps]) for i in range(epochs - start)]


def test_fit_sees_seeded_epoch_orders_and_resume_reproduces(tmp_path: Path) -> None:
    path = write_indexed_csv(tmp_path / "i.csv", n=60)
    ds = load_datasets(
        _config({"kind": "csv", "path": str(path), "target": "y", "validation": None})
    )
    full = _fit_orders(ds, 0, 3, seed=5)
    train_ids = np.sort(full[0])
    assert len(train_ids) == ds.train_size
    for order in full:  # every epoch is a permutation of the training rows ...
        np.testing.assert_array_equal(np.sort(order), train_ids)
    assert not np.array_equal(full[0], full[1]) and not np.array_equal(full[1], full[2])
    again = _fit_orders(ds, 0, 3, seed=5)  # ... reproducible ...
    for a, b in zip(full, again, strict=True):
        np.testing.assert_array_equal(a, b)
    resumed = _fit_orders(ds, 2, 3, seed=5)  # ... and a resume at epoch 2 sees epoch 2.
    np.testing.assert_array_equal(resumed[0], full[2])
    other = _fit_orders(ds, 0, 1, seed=6)
    assert not np.array_equal(other[0], full[0])


def test_no_shuffle_keeps_file_order(tmp_path: Path) -> None:
    path = write_indexed_csv(tmp_path / "i.csv", n=30)
    ds = load_datasets(_config({"kind": "csv", "path": str(path), "target": "y"}))
    train, _ = ds.train_dataset(4, seed=0, epochs=2, shuffle=False)
    ids = np.concatenate([x.numpy()[:, 0] for x, _ in train])
    half = len(ids) // 2
    np.testing.assert_array_equal(ids[:half], ids[half:])
    assert np.all(np.diff(ids[:half]) > 0)


# ---------------------------------------------------------------------- CSV models


def test_csv_with_missing_and_categories_trains_and_round_trips(tmp_path: Path) -> None:
    path = write_regression_csv(tmp_path / "r.csv", n=120, missing=True)
    ds = load_datasets(
        _config(
            {
                "kind": "csv",
                "path": str(path),
                "target": "y",
                "categorical": ["color"],
                "missing": "mean",
            }
        )
    )
    x, y = next(iter(ds.test_dataset(16)))
    assert set(x) == {"features", "color"} and x["color"].dtype == tf.string
    model = _model(ds.spec)
    model.compile("adam", "mse")
    train, steps = ds.train_dataset(16, seed=0, epochs=1)
    history = model.fit(
        train, epochs=1, steps_per_epoch=steps, validation_data=ds.validation_dataset(16), verbose=0
    )
    assert np.isfinite(history.history["loss"][0]) and "val_loss" in history.history
    file = tmp_path / "m.keras"
    model.save(file)
    loaded = keras.models.load_model(file, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(ds.test_dataset(16), verbose=0),
        model.predict(ds.test_dataset(16), verbose=0),
        rtol=1e-5,
    )
    # An unseen category goes to the out-of-vocabulary slot instead of failing.
    raw = {"features": tf.constant([[1.0, 2.0]]), "color": tf.constant([["purple"]])}
    assert np.isfinite(loaded(raw).numpy()).all()
    assert len(ds.test_targets()[0]) == ds.test_size


def test_normalization_uses_training_statistics(regression_csv: Path) -> None:
    ds = load_datasets(
        _config(
            {"kind": "csv", "path": str(regression_csv), "target": "y", "categorical": ["color"]}
        )
    )
    raw = {
        i.name: keras.Input(shape=i.shape, dtype=i.dtype, name=i.name) for i in ds.spec.raw_inputs
    }
    assert ds.spec.preprocess is not None
    model = keras.Model(raw, ds.spec.preprocess(raw)["features"])
    train, steps = ds.train_dataset("full", seed=0, epochs=1, shuffle=False)
    x, _ = next(iter(train))
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out[:, :2].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(out[:, :2].std(0), 1, atol=1e-3)
    assert set(np.unique(out[:, 2:])) == {0.0, 1.0} and (out[:, 2:].sum(1) == 1).all()


def test_in_memory_splits_are_held_once(regression_csv: Path, mnist_npz: Path) -> None:
    """The pipelines gather from tensors that share the loaded arrays' buffers, and tf.data's
    graph rewrites (which copy every captured tensor once more per iterator) are off."""
    csv = load_datasets(
        _config(
            {"kind": "csv", "path": str(regression_csv), "target": "y", "categorical": ["color"]}
        )
    )
    assert csv.source is not None
    loaded = csv.source.x["train"]["features"]  # assembled float32, not yet a tensor
    train, _ = csv.train_dataset(16, seed=0, epochs=1)
    held = csv.source.x["train"]["features"]  # now a read-only view of the pipeline's tensor
    assert np.shares_memory(held, loaded) and not held.flags.writeable
    assert not loaded.flags.writeable  # shared with TensorFlow: a write would fail, not leak
    images = load_datasets(_config({"kind": "mnist", "path": str(mnist_npz)}))
    assert images.source is not None
    pixels = images.source.x["test"]["image"].copy()
    test = images.test_dataset(32)
    shared = images.source.x["test"]["image"]
    assert shared.ctypes.data % 64 == 0 and np.array_equal(shared, pixels)
    for ds in (train, csv.validation_dataset(16), test, test.map(lambda x, y: x)):
        assert ds is not None
        assert ds.options().experimental_optimization.apply_default_optimizations is False
    x, _ = next(iter(test))
    np.testing.assert_allclose(x.numpy().reshape(len(x), -1), pixels[:32].reshape(32, -1) / 255)


def test_several_targets_and_groups_structure(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i % 5},{['u', 'v'][i % 2]},{i * 0.5},{'abc'[i % 3]}" for i in range(90))
    path = write_text(tmp_path / "m.csv", "a,b,cat,r,k\n" + rows + "\n")
    ds = load_datasets(
        _config(
            {
                "kind": "csv",
                "path": str(path),
                "target": ["r", "k"],
                "categorical": ["cat"],
                "task": {"r": "regression", "k": "multiclass"},
                "one_hot": True,
                "feature_groups": {"left": ["a"], "right": ["b", "cat"]},
            }
        )
    )
    x, y = next(iter(ds.test_dataset(4)))
    assert set(x) == {"left", "right", "cat"}
    assert isinstance(y, tuple) and y[0].shape == (4, 1) and y[1].shape == (4, 3)
    labels = ds.test_targets()
    assert labels[0].dtype == np.float32 and labels[1].dtype == np.int32


def test_classification_csv_binary(tmp_path: Path) -> None:
    path = write_classification_csv(tmp_path / "c.csv", n=80, classes=("neg", "pos"))
    ds = load_datasets(
        _config({"kind": "csv", "path": str(path), "target": "label", "task": "binary"})
    )
    model = _model(ds.spec, activation="sigmoid")
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    train, steps = ds.train_dataset(8, seed=0, epochs=1)
    model.fit(train, epochs=1, steps_per_epoch=steps, verbose=0)
    assert ds.spec.targets[0].class_names == ("neg", "pos")


# ----------------------------------------------------------------------- predict


def test_prediction_inputs_csv(tmp_path: Path) -> None:
    path = write_regression_csv(tmp_path / "r.csv", n=60)
    cfg = _config({"kind": "csv", "path": str(path), "target": "y", "categorical": ["color"]})
    ds = load_datasets(cfg)
    new = write_text(tmp_path / "new.csv", "id,color,x2,x1\n7,red,1.0,2.0\n8,mauve,0,0\n")
    inputs = load_prediction_inputs(cfg, ds.spec, new)
    assert inputs.count == 2 and inputs.header == ["id", "color", "x2", "x1"]
    assert inputs.numbers == [2, 3]
    x = next(iter(inputs.dataset))
    np.testing.assert_array_equal(x["features"].numpy(), [[2.0, 1.0], [0.0, 0.0]])
    assert _model(ds.spec).predict(inputs.dataset, verbose=0).shape == (2, 1)
    bad = write_text(tmp_path / "bad.csv", "x1,colour,x2\n1,red,2\n")
    with pytest.raises(Exception, match=r"no column 'color' \(did you mean 'colour'\?\)"):
        load_prediction_inputs(cfg, ds.spec, bad)
    empty = write_text(tmp_path / "e.csv", "x1,color,x2\n1,red,\n")
    with pytest.raises(Exception, match=r"e.csv:2:3: column 'x2' is empty"):
        load_prediction_inputs(cfg, ds.spec, empty)


def test_prediction_inputs_images(tmp_path: Path) -> None:
    npz = write_mnist_npz(tmp_path / "m.npz", n_train=10, n_test=6)
    cfg = _config({"kind": "mnist", "path": str(npz), "channel_axis": True})
    spec = load_datasets(cfg).spec
    inputs = load_prediction_inputs(cfg, spec, npz)
    assert inputs.count == 6 and inputs.header is None
    x = next(iter(inputs.dataset))
    assert x.shape == (6, 28, 28, 1) and float(tf.reduce_max(x)) <= 1.0
    folder = write_mnist_idx_dir(tmp_path / "idx", 4, 3, gz=False)
    inputs = load_prediction_inputs(cfg, spec, folder / "t10k-images-idx3-ubyte")
    assert inputs.count == 3
