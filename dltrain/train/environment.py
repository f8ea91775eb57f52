"""TensorFlow setup for a run: seeds, determinism, precision, distribution strategy."""

from __future__ import annotations

import random
from typing import Any

__all__ = ["configure_environment", "make_strategy"]


def configure_environment(seed: int, deterministic: bool, precision: str) -> None:
    """Seed every generator, switch on op determinism and set the Keras dtype policy."""
    import keras
    import numpy as np
    import tensorflow as tf

    # PYTHONHASHSEED is read when the interpreter starts; setting it here would change
    # nothing, and no result of a run depends on Python's str hashes.
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    # Both ways: an earlier run in this process may have switched it on.
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config as tf_config  # no public "disable"

        tf_config.disable_op_determinism()
    keras.mixed_precision.set_global_policy(precision)


def make_strategy(strategy: str, device: str | None, devices: list[str] | None) -> Any:
    """The ``tf.distribute`` strategy named by the config."""
    import tensorflow as tf

    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if strategy == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if strategy == "one_device":
        return tf.distribute.OneDeviceStrategy(device or "/cpu:0")
    return tf.distribute.get_strategy()
