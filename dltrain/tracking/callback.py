"""``MlflowCallback``: each epoch's metrics to MLflow as the epoch ends (imports Keras)."""

from __future__ import annotations

import time
from typing import Any

import keras

from dltrain.tracking.client import Tracker
from dltrain.tracking.upload import log_epoch
from dltrain.train.hints import current_learning_rate
from dltrain.train.signals import scalar

__all__ = ["MlflowCallback"]


class MlflowCallback(keras.callbacks.Callback):
    """Logs the row ``metrics.csv`` gets for each epoch (``step`` = epoch, from 1).

    It runs before the epoch recorder, so it builds the row the same way: Keras's logs, the
    learning rate the epoch started with and the epoch's duration. A server that fails stops
    the live logging only (see :class:`Tracker`); the end of the run uploads what is missing.
    """

    def __init__(self, tracker: Tracker) -> None:
        super().__init__()
        self.tracker = tracker
        self._start = 0.0
        self._lr = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()
        self._lr = current_learning_rate(self.model)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row = {k: scalar(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        row["learning_rate"] = self._lr
        row["epoch_time_s"] = round(time.perf_counter() - self._start, 4)
        log_epoch(self.tracker, epoch + 1, row)
