"""Process-wide TensorFlow setup: quiet logs, seeds, determinism, precision, strategy."""

from __future__ import annotations

import logging
import os
import random
import warnings
from pathlib import Path
from typing import Any

__all__ = ["configure_environment", "make_strategy", "quiet_tensorflow"]


def quiet_tensorflow(log_file: Path | None = None) -> None:
    """Silence TensorFlow's start-up chatter unless ``DLTRAIN_DEBUG`` is set.

    Must run before TensorFlow is imported: the C++ log level is read at import time. Python
    warnings and TensorFlow's Python logger go to ``log_file`` when given.
    """
    if os.environ.get("DLTRAIN_DEBUG"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    logging.captureWarnings(True)
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    else:
        handler = logging.NullHandler()
    for name in ("py.warnings", "tensorflow", "absl", "keras"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    warnings.filterwarnings("default")


def configure_environment(seed: int, deterministic: bool, precision: str) -> None:
    """Seed every generator, switch on op determinism and set the Keras dtype policy."""
    import keras
    import numpy as np
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
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
