"""The epoch recorder (metrics.csv, best.keras, resume point, run.json) and progress relay."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dltrain.storage import (
    BestCheckpoint,
    ResumePoint,
    RunFolder,
    publish_file,
    save_resume_point,
)
from dltrain.storage.manifest import CallbackStates, ResumeState, split_metrics
from dltrain.train.hints import current_learning_rate
from dltrain.train.monitors import Mode, ResumableEarlyStopping, ResumableReduceLROnPlateau
from dltrain.train.rng import restore_rng_states, save_rng_states
from dltrain.train.signals import scalar
from dltrain.train.sink import ProgressSink

__all__ = ["ProgressCallback", "ProgressSink", "Recorder"]


class ProgressCallback(keras.callbacks.Callback):
    """Forwards batches to a :class:`ProgressSink`."""

    async_safe = True

    def __init__(self, sink: ProgressSink) -> None:
        super().__init__()
        self.sink = sink
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.sink.batch(self._epoch, batch, logs or {})


class Recorder(keras.callbacks.Callback):
    """At each epoch end: metrics.csv, best.keras, a resume point, run.json, progress.

    It must come after early stopping and LR reduction in the callback list (Keras calls
    callbacks in order), so their state for the epoch is final when it is saved;
    :func:`dltrain.train.loop.fit_model` builds the list that way.
    """

    def __init__(
        self,
        run: RunFolder,
        sink: ProgressSink,
        *,
        monitor: str,
        mode: Mode,
        rows: list[dict[str, float]],
        early_stopping: ResumableEarlyStopping | None,
        reduce_lr: ResumableReduceLROnPlateau | None,
        resume: ResumePoint | None,
    ) -> None:
        super().__init__()
        self.run = run
        self.sink = sink
        self.monitor = monitor
        self.mode = mode
        self.rows = rows
        self.early_stopping = early_stopping
        self.reduce_lr = reduce_lr
        self.resume = resume
        self.best: BestCheckpoint | None = resume.state.best if resume else None
        self._epoch_start = 0.0
        self._epoch_lr = 0.0

    # -------------------------------------------------------------- restoring
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.resume is None:
            return
        folder = self.resume.folder
        restore_rng_states(self.model, folder / "rng_state.npz")
        saved = self.resume.state.callbacks
        if self.early_stopping is not None and saved.early_stopping is not None:
            weights_file = folder / "early_stopping_best.npz"
            weights = None
            if weights_file.is_file():
                with np.load(weights_file) as data:
                    weights = {key: data[key] for key in data.files}
            self.early_stopping.set_state(saved.early_stopping, weights)
        if self.reduce_lr is not None and saved.reduce_lr is not None:
            self.reduce_lr.set_state(saved.reduce_lr)

    def initial_state(self) -> ResumeState:
        """The state before the first epoch (for a rollback point at epoch 0)."""
        return self._state(0)

    def _state(self, epochs_completed: int) -> ResumeState:
        es, rl = self.early_stopping, self.reduce_lr
        return ResumeState(
            epochs_completed=epochs_completed,
            best=self.best,
            learning_rate=current_learning_rate(self.model),
            callbacks=CallbackStates(
                early_stopping=es.get_state() if es is not None else None,
                reduce_lr=rl.get_state() if rl is not None else None,
            ),
            rows=list(self.rows),
        )

    # ---------------------------------------------------------------- recording
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_lr = current_learning_rate(self.model)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row: dict[str, float] = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            if key != "learning_rate":
                row[key] = scalar(value)
        row["learning_rate"] = self._epoch_lr
        row["epoch_time_s"] = round(time.perf_counter() - self._epoch_start, 4)
        self.rows.append(row)
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        self.run.write_csv("metrics.csv", self.rows, columns)

        value = row.get(self.monitor)
        improved = value is not None and math.isfinite(value) and self._improved(value)
        if improved:
            assert value is not None
            self.best = BestCheckpoint(
                monitor=self.monitor, mode=self.mode, value=value, epoch=epoch + 1
            )
        # Publication order: the resume point (which carries its own best.keras and says which
        # epoch that is) is committed first, by one rename; best.keras and run.json follow.
        # A kill in between leaves the point as the record, and --resume republishes from it.
        point = save_resume_point(
            self.run.checkpoints,
            self.model,
            epoch + 1,
            self._state(epoch + 1),
            extra=lambda folder: self._save_extra_state(folder, improved),
        )
        if improved:
            # A copy, not a link: damage to best.keras in place leaves the point's intact.
            publish_file(
                point.folder / "best.keras", self.run.checkpoints / "best.keras", link=False
            )
        self.run.update(
            epochs_completed=epoch + 1,
            best=self.best,
            final_metrics=split_metrics(row),
        )
        self.sink.epoch(epoch, row)

    def _save_extra_state(self, folder: Path, improved: bool) -> None:
        save_rng_states(self.model, folder / "rng_state.npz")
        es = self.early_stopping
        if es is not None and es.best_weights is not None:
            np.savez(folder / "early_stopping_best.npz", **es.best_weights_arrays())  # type: ignore[arg-type]  # numpy stubs mistype **kwargs
        best = self.run.checkpoints / "best.keras"
        if improved:
            self.model.save(folder / "best.keras")
        elif best.is_file():
            publish_file(best, folder / "best.keras", link=False)  # independent of best.keras

    def _improved(self, value: float) -> bool:
        # Keras's ModelCheckpoint rule: strictly better than the best so far.
        if self.best is None:
            return True
        return value < self.best.value if self.mode == "min" else value > self.best.value
