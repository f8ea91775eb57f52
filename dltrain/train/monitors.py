"""One notion of "better" for the best checkpoint, early stopping and learning-rate reduction.

All three use Keras's monitor semantics: ``mode: auto`` is resolved once, the way Keras's
``MonitorCallback`` resolves it (``loss`` -> min, a compiled metric -> its own direction), and
the resolved ``min``/``max`` is handed to every callback, so they can never disagree. Early
stopping and LR reduction save and restore their state for exact resume through methods of
the small subclasses below instead of callers writing Keras attributes.
"""

from __future__ import annotations

from typing import Any, Literal

import keras
import numpy as np

from dltrain.errors import ConfigError, Problem
from dltrain.storage.manifest import EarlyStoppingState, ReduceLRState
from dltrain.utils.keys import KeyPath, format_path

__all__ = [
    "ResumableEarlyStopping",
    "ResumableReduceLROnPlateau",
    "monitored_name",
    "resolve_mode",
]

Mode = Literal["min", "max"]


def monitored_name(name: str, has_validation: bool) -> str:
    """The logged name to watch: without validation data, ``val_x`` becomes ``x``."""
    if not has_validation and name.startswith("val_"):
        return name[4:]
    return name


def resolve_mode(model: keras.Model, monitor: str, mode: str, key: KeyPath) -> Mode:
    """``min`` or ``max`` for ``monitor``, as Keras's own monitor callbacks decide ``auto``.

    Needs a compiled model whose metrics are built (after one evaluation batch).

    Raises:
        ConfigError: ``auto`` cannot tell the direction of this metric (at ``key``).
    """
    if mode in ("min", "max"):
        return mode  # type: ignore[return-value]
    probe = keras.callbacks.EarlyStopping(monitor=monitor, mode="auto")
    probe.set_model(model)
    try:
        probe._set_monitor_op()  # Keras's MonitorCallback resolution; no public name for it
    except ValueError as exc:
        raise ConfigError(
            problems=[
                Problem(
                    f"mode: auto cannot tell whether {monitor!r} should go up or down "
                    f"({exc}); set mode: min or mode: max",
                    path=format_path(key),
                    key=key,
                )
            ]
        ) from None
    return "min" if probe.monitor_op is keras.ops.less else "max"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` whose progress (and best weights) can be saved and restored."""

    def get_state(self) -> EarlyStoppingState:
        """What a resume point keeps (best weights via :meth:`best_weights_arrays`)."""
        return EarlyStoppingState(
            wait=int(self.wait),
            best=_number(self.best),
            best_epoch=int(self.best_epoch),
            stopped_epoch=int(self.stopped_epoch),
        )

    def best_weights_arrays(self) -> dict[str, np.ndarray]:
        """The restorable best weights, as arrays for ``np.savez`` (empty when none)."""
        weights = self.best_weights or []
        return {f"w{i}": np.asarray(w) for i, w in enumerate(weights)}

    def set_state(self, state: EarlyStoppingState, weights: dict[str, np.ndarray] | None) -> None:
        """Put back :meth:`get_state` (call after ``on_train_begin`` reset it)."""
        self.wait = state.wait
        self.best = state.best
        self.best_epoch = state.best_epoch
        self.stopped_epoch = state.stopped_epoch
        if weights:
            self.best_weights = [weights[f"w{i}"] for i in range(len(weights))]


class ResumableReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """``ReduceLROnPlateau`` whose progress can be saved and restored."""

    def get_state(self) -> ReduceLRState:
        """What a resume point keeps (the learning rate itself lives in the optimizer)."""
        return ReduceLRState(
            wait=int(self.wait),
            best=_number(self.best),
            cooldown_counter=int(self.cooldown_counter),
        )

    def set_state(self, state: ReduceLRState) -> None:
        """Put back :meth:`get_state` (call after ``on_train_begin`` reset it)."""
        self.wait = state.wait
        self.best = state.best
        self.cooldown_counter = state.cooldown_counter
