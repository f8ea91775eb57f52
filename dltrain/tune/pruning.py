"""The Keras callback that reports a trial's metric each epoch and stops it when pruned."""

from __future__ import annotations

import math
from typing import Any

import keras

__all__ = ["PruningCallback"]


class PruningCallback(keras.callbacks.Callback):
    """Reports ``metric`` to the Optuna trial at every epoch end; stops ``fit`` when pruned.

    It runs before the run's epoch recorder, so the pruned epoch is still written to
    ``metrics.csv`` and the checkpoints; stopping works like early stopping.
    """

    def __init__(self, trial: Any, metric: str) -> None:
        super().__init__()
        self.trial = trial
        self.metric = metric
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.metric)
        if value is None:
            return
        number = float(keras.ops.convert_to_numpy(value))
        if not math.isfinite(number):
            return  # the run's NaN watch fails the trial
        self.trial.report(number, step=epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True
