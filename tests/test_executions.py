"""Fused executions and the single trace (dltrain/train/executions.py) train as Keras does."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from dltrain.train.executions import MAX_STACKED_BYTES, build_optimizer, fused_executions, fuses

ROWS, BATCH, EPOCHS = 70, 16, 3  # 5 batches an epoch, the last of 6 rows


class Traces(keras.layers.Layer):
    """Counts how often Keras traces the step that calls it (Python runs only when tracing)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.count = 0

    def call(self, x: Any) -> Any:
        self.count += 1
        return x


def model(jit: bool = True, steps: int = 5) -> keras.Model:
    keras.utils.set_random_seed(7)
    m = keras.Sequential(
        [
            keras.Input((6,)),
            Traces(),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.3),  # random draws in every step
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    m.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit,
        steps_per_execution=steps,
    )
    return m


def dry_run(m: keras.Model) -> None:
    """What dltrain's dry run does before training: one eager test step, which builds the
    compiled loss and metrics."""
    m.test_step((np.zeros((2, 6), "float32"), np.zeros(2, "int32")))
    m.reset_metrics()
    m.layers[0].count = 0  # building the model and the dry run called it


def train(
    m: keras.Model, *, fused: bool, rows: int = ROWS, **fit: Any
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Train as dltrain does: every epoch's batches in one dataset, each epoch ending with its
    own smaller batch where ``rows`` is not a multiple of the batch."""
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(rows, 6)).astype("float32")
    y = rng.integers(0, 3, rows).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).repeat(EPOCHS)
    dry_run(m)
    build_optimizer(m, distributed=False)
    with fused_executions(
        m, ds, distributed=not fused, batch=BATCH, smaller_last_batch=rows % BATCH != 0
    ) as used:
        assert used is fused
        steps = -(-rows // BATCH)
        history = m.fit(ds, epochs=EPOCHS, steps_per_epoch=steps, verbose=0, **fit)
    return m.get_weights(), history.history


def assert_same_weights(ours: list[np.ndarray], theirs: list[np.ndarray]) -> None:
    for mine, other in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, other, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("class_weight", [None, {0: 1.0, 1: 2.0, 2: 0.5}])
def test_fused_executions_train_as_keras_does(class_weight: Any) -> None:
    keras_weights, keras_logs = train(model(), fused=False, class_weight=class_weight)
    fused_model = model()
    fused_weights, fused_logs = train(fused_model, fused=True, class_weight=class_weight)
    assert_same_weights(fused_weights, keras_weights)
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(fused_logs[name], keras_logs[name], rtol=1e-5)
    # The model's own train function is back after the block.
    assert "make_train_function" not in vars(fused_model)
    assert fused_model.train_function is None


def test_fused_executions_without_a_smaller_last_batch() -> None:
    keras_weights, keras_logs = train(model(steps=4), fused=False, rows=64)
    fused_weights, fused_logs = train(model(steps=4), fused=True, rows=64)
    assert_same_weights(fused_weights, keras_weights)
    np.testing.assert_allclose(fused_logs["loss"], keras_logs["loss"], rtol=1e-5)


@pytest.mark.parametrize("fused", [False, True])
def test_the_train_step_is_traced_once(fused: bool) -> None:
    m = model()
    train(m, fused=fused)
    # With a smaller last batch, fused executions trace the loop of full batches and the
    # execution's last step (full or smaller) apart; Keras one step for both sizes.
    assert m.layers[0].count == (2 if fused else 1)
    m = model(steps=4)
    train(m, fused=fused, rows=64)
    assert m.layers[0].count == 1


def test_without_building_the_optimizer_first_keras_traces_twice() -> None:
    """What build_optimizer saves (if Keras stops tracing twice, this fails: drop it)."""
    m = model(steps=4)
    dry_run(m)
    x = np.zeros((64, 6), "float32")
    m.fit(x, np.zeros(64, "int32"), batch_size=16, epochs=1, verbose=0)
    assert m.layers[0].count == 2


def test_an_lstm_under_xla_trains_fused_as_keras_does() -> None:
    """The LSTM's own loop (and its gradient's) inside the fused loop: XLA needs their shapes
    when the graph is built, which a step traced for an unknown batch size does not give."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 5, 3)).astype("float32")
    y = rng.integers(0, 2, 40).astype("int32")
    results = []
    for fused in (False, True):
        keras.utils.set_random_seed(3)
        m = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
        m.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=True,
            steps_per_execution=3,
        )
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).repeat(2)  # 16, 16, 8
        build_optimizer(m, distributed=False)
        with fused_executions(m, ds, distributed=not fused, batch=16, smaller_last_batch=True):
            history = m.fit(ds, epochs=2, steps_per_epoch=3, verbose=0)
        results.append((history.history["loss"], m.get_weights()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    assert_same_weights(results[1][1], results[0][1])


class CustomStep(keras.Sequential):
    def train_step(self, data: Any) -> Any:
        return super().train_step(data)


def test_what_is_not_fused() -> None:
    ds = tf.data.Dataset.from_tensor_slices(
        (np.zeros((ROWS, 6), "float32"), np.zeros(ROWS, "int32"))
    )
    ds = ds.batch(BATCH)
    assert fuses(model(), ds, distributed=False, batch=BATCH)
    assert not fuses(model(), ds, distributed=True, batch=BATCH)
    assert not fuses(model(jit=False), ds, distributed=False, batch=BATCH)
    assert not fuses(model(steps=1), ds, distributed=False, batch=BATCH)
    shapes_vary = tf.data.Dataset.from_generator(
        lambda: iter(()),
        output_signature=(
            tf.TensorSpec((None, None), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ),
    )
    assert not fuses(model(), shapes_vary, distributed=False, batch=BATCH)
    # An execution holds 5 batches; an example is 6 float32 values and an int32 label.
    largest = MAX_STACKED_BYTES // (5 * (6 * 4 + 4))
    assert fuses(model(), ds, distributed=False, batch=largest)
    assert not fuses(model(), ds, distributed=False, batch=largest + 1)
    custom = CustomStep([keras.Input((6,)), keras.layers.Dense(3)])
    custom.compile(optimizer="adam", loss="mse", jit_compile=True, steps_per_execution=5)
    assert not fuses(custom, ds, distributed=False, batch=BATCH)
    build_optimizer(custom, distributed=False)
    assert not custom.optimizer.built  # its own step may apply gradients to other weights
