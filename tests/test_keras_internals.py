"""The private Keras attributes that exact resume and multi-worker training rely on still exist.

``pyproject.toml`` pins Keras to the range these were checked on; if an upgrade renames one,
these tests fail instead of resume silently drawing different dropout masks.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dltrain.train.rng import (
    KerasInternalsChanged,
    restore_rng_states,
    save_rng_states,
    seed_generators,
)


def model_with_randomness() -> keras.Model:
    inputs = keras.Input((4,))
    x = keras.layers.GaussianNoise(0.1)(inputs)
    x = keras.Sequential([keras.layers.Dense(3), keras.layers.Dropout(0.5)], name="block")(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def test_seed_generators_found_in_nested_layers() -> None:
    found = seed_generators(model_with_randomness())
    kinds = sorted(key.split("/")[0].split("_")[0] for key in found)
    assert kinds == ["dropout", "gaussian"], found


def test_rng_state_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = model_with_randomness()
    x = np.ones((2, 4), dtype="float32")
    save_rng_states(model, tmp_path / "rng.npz")
    first = model(x, training=True).numpy()
    restore_rng_states(model, tmp_path / "rng.npz")
    again = model(x, training=True).numpy()
    np.testing.assert_array_equal(first, again)


def test_missing_internals_fail_loudly() -> None:
    class Plain:
        pass

    with pytest.raises(KerasInternalsChanged):
        seed_generators(Plain())


def test_multi_worker_patch_targets_exist() -> None:
    from keras.src.backend.tensorflow import trainer

    for name in ("reduce_per_replica", "_collective_all_reduce_multi_worker",
                 "_is_per_replica_instance"):
        assert hasattr(trainer, name), name
    assert hasattr(trainer.TensorFlowTrainer, "_symbolic_build")


def test_private_tensorflow_and_keras_functions_used_for_jit_and_determinism_exist() -> None:
    # dltrain.train.environment switches op determinism off again (no public function), and
    # dltrain.model.jit asks Keras whether a model supports XLA.
    from keras.src.trainers.trainer import model_supports_jit
    from tensorflow.python.framework import config as tf_config

    assert callable(tf_config.disable_op_determinism) and callable(model_supports_jit)
