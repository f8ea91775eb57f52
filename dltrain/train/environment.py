"""Process-wide TensorFlow setup: quiet logs, seeds, determinism, precision, strategy."""

from __future__ import annotations

import atexit
import logging
import os
import random
from pathlib import Path
from typing import Any

__all__ = [
    "configure_environment",
    "make_strategy",
    "quiet_tensorflow",
    "redirect_native_stderr",
]

# The file that receives native (C++) log output while stderr is redirected, if it is.
_native_log: list[Path] = []


def redirect_native_stderr() -> None:
    """Send native writes to file descriptor 2 (TensorFlow's C++ logs) to a log file.

    TensorFlow 2.21 prints absl/oneDNN/CUDA notices from C++ before any Python setting can
    stop them. Python's own ``sys.stderr`` keeps pointing at the terminal, so dltrain's
    messages and tracebacks still show. The log starts in a temporary file and moves into the
    run folder once there is one (:func:`quiet_tensorflow`). Only the CLI calls this: it owns
    the process; tests and notebooks keep their stderr.
    """
    import sys
    import tempfile

    # Someone else (a test runner, a notebook) already captures stderr: leave it alone.
    if _native_log or os.environ.get("DLTRAIN_DEBUG") or sys.stderr is not sys.__stderr__:
        return

    try:
        real = os.dup(2)
    except OSError:
        return
    if sys.stderr is not None:
        sys.stderr.flush()
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    fd, name = tempfile.mkstemp(prefix="dltrain-native-", suffix=".log")
    os.dup2(fd, 2)
    os.close(fd)
    _native_log.append(Path(name))
    atexit.register(_drop_temporary_log)


def _drop_temporary_log() -> None:
    # Commands without a run folder (check, eval, predict) have nowhere to keep the log.
    if _native_log and _native_log[-1].name.startswith("dltrain-native-"):
        _native_log[-1].unlink(missing_ok=True)


def _move_native_log(target: Path) -> None:
    if not _native_log or _native_log[-1] == target:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    previous = _native_log[-1]
    with target.open("ab") as out:
        if previous.is_file():
            out.write(previous.read_bytes())
        os.dup2(out.fileno(), 2)
    if previous.name.startswith("dltrain-native-"):
        previous.unlink(missing_ok=True)
    _native_log[-1] = target


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
        _move_native_log(log_file.with_name("tensorflow.log"))
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    else:
        handler = logging.NullHandler()
    for name in ("py.warnings", "tensorflow", "absl", "keras"):
        logger = logging.getLogger(name)
        for old in logger.handlers:
            old.close()
        logger.handlers = [handler]
        logger.propagate = False


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
