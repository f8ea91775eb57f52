"""Stopping ``fit`` cleanly: SIGINT/SIGTERM and non-finite losses, at batch boundaries."""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import keras
import numpy as np

__all__ = ["StopSignal", "TrainingDiverged", "TrainingInterrupted", "Watchdog", "scalar"]


class TrainingInterrupted(Exception):
    """Raised inside ``fit`` when SIGINT/SIGTERM asked the run to stop."""

    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__(f"interrupted in epoch {epoch + 1}, batch {batch + 1}")
        self.epoch = epoch
        self.batch = batch


class TrainingDiverged(Exception):
    """Raised inside ``fit`` when the loss became NaN or infinite."""

    def __init__(self, epoch: int, batch: int, value: float) -> None:
        super().__init__(f"loss became {value} in epoch {epoch + 1}, batch {batch + 1}")
        self.epoch = epoch
        self.batch = batch
        self.value = value


class StopSignal:
    """First SIGINT/SIGTERM asks for a clean stop; a second one stops at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Install the handlers (main thread only; elsewhere this does nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        """Put the previous handlers back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        self.event.set()


def scalar(value: Any) -> float:
    return float(np.asarray(keras.ops.convert_to_numpy(value)).reshape(-1)[0])


class Watchdog(keras.callbacks.Callback):
    """Stops ``fit`` at the next batch boundary on a signal or a non-finite loss."""

    # Runs on Keras's background thread: it only sets flags; the raise happens synchronously.
    async_safe = True

    def __init__(self, stop: StopSignal, check_nan: bool, clock: Callable[[], float]) -> None:
        super().__init__()
        self.stop = stop
        self.check_nan = check_nan
        self.clock = clock
        self.first_step_at: float | None = None
        self._epoch = 0
        self.interrupted: tuple[int, int] | None = None
        self.diverged: tuple[int, int, float] | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.first_step_at is None:
            self.first_step_at = self.clock()
        if self.stop.event.is_set() and self.interrupted is None:
            self.interrupted = (self._epoch, batch)
            self.model.stop_training = True
        if self.check_nan and logs and "loss" in logs and self.diverged is None:
            value = scalar(logs["loss"])
            if not math.isfinite(value):
                self.diverged = (self._epoch, batch, value)
                self.model.stop_training = True

    def _raise_if_stopped(self) -> None:
        if self.diverged is not None:
            raise TrainingDiverged(*self.diverged)
        if self.interrupted is not None:
            raise TrainingInterrupted(*self.interrupted)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._raise_if_stopped()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._raise_if_stopped()


