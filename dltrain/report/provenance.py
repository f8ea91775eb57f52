"""What a run's ``run.json`` records about the code and machine that produced it."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from dltrain.version import __version__

__all__ = ["environment_facts", "git_commit", "tensorflow_onednn"]


def _git(where: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=where, capture_output=True, text=True, timeout=5, check=True
    ).stdout.strip()


def git_commit(where: Path) -> dict[str, Any] | None:
    """The git commit (and whether the tree is dirty) of the repository holding ``where``."""
    try:
        commit = _git(where, "rev-parse", "HEAD")
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)} if commit else None


def environment_facts() -> dict[str, Any]:
    """Versions of Python, TensorFlow, Keras, NumPy and dltrain, and the platform."""
    import keras
    import numpy
    import tensorflow as tf

    devices = [d.device_type for d in tf.config.list_physical_devices()]
    return {
        "versions": {
            "python": sys.version.split()[0],
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": numpy.__version__,
            "dltrain": __version__,
        },
        "platform": {
            "system": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor() or None,
            "devices": devices,
            "onednn": tensorflow_onednn(),
        },
    }


def tensorflow_onednn() -> bool | None:
    """Whether TensorFlow runs its oneDNN kernels in this process (``TF_ENABLE_ONEDNN_OPTS``,
    or TensorFlow's own choice for the CPU; :mod:`dltrain.runtime.xla_cache`); ``None`` when
    this TensorFlow cannot say."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # no public getter
    except ImportError:
        return None
    enabled = getattr(_pywrap_util_port, "IsMklEnabled", None)
    return bool(enabled()) if callable(enabled) else None
