"""Keras callbacks of a run: interruption and NaN watch, progress, and the epoch recorder."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import keras
import numpy as np

from dltrain.report.run_files import split_metrics
from dltrain.report.run_folder import RunFolder
from dltrain.train.state import (
    ResumePoint,
    publish_file,
    restore_rng_states,
    save_resume_point,
    save_rng_states,
)

__all__ = [
    "ProgressCallback",
    "ProgressSink",
    "Recorder",
    "StopSignal",
    "TrainingDiverged",
    "TrainingInterrupted",
    "Watchdog",
    "monitor_mode",
]


class ProgressSink(Protocol):
    """Where training progress goes (a terminal display, plain lines, or nowhere)."""

    def start(self, *, epochs: int, start_epoch: int, steps: int) -> None: ...
    def batch(self, epoch: int, step: int, logs: dict[str, Any]) -> None: ...
    def epoch(self, epoch: int, row: dict[str, float]) -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


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


def monitor_mode(monitor: str, mode: str) -> str:
    """``min`` or ``max`` for a monitored metric (``auto`` guesses from its name)."""
    if mode != "auto":
        return mode
    name = monitor.lower()
    higher = ("acc", "auc", "precision", "recall", "f1", "iou", "r2")
    return "max" if any(word in name for word in higher) else "min"


def _scalar(value: Any) -> float:
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
            value = _scalar(logs["loss"])
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


class ProgressCallback(keras.callbacks.Callback):
    """Forwards batches and epochs to a :class:`ProgressSink`."""

    async_safe = True

    def __init__(self, sink: ProgressSink) -> None:
        super().__init__()
        self.sink = sink
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.sink.batch(self._epoch, batch, logs or {})


def current_learning_rate(model: Any) -> float:
    """The optimizer's learning rate now (schedules evaluated at the current step)."""
    return _scalar(model.optimizer.learning_rate)


class Recorder(keras.callbacks.Callback):
    """At each epoch end: metrics.csv, best.keras, a resume point, run.json, progress.

    Placed last in the callback list, so early stopping and LR reduction have already updated
    their state for the epoch when it is saved.
    """

    def __init__(
        self,
        run: RunFolder,
        sink: ProgressSink,
        *,
        monitor: str,
        mode: str,
        rows: list[dict[str, float]],
        early_stopping: keras.callbacks.EarlyStopping | None,
        reduce_lr: keras.callbacks.ReduceLROnPlateau | None,
        resume: ResumePoint | None,
    ) -> None:
        super().__init__()
        self.run = run
        self.sink = sink
        self.monitor = monitor
        self.mode = monitor_mode(monitor, mode)
        self.rows = rows
        self.early_stopping = early_stopping
        self.reduce_lr = reduce_lr
        self.resume = resume
        state = resume.state if resume else {}
        self.best: dict[str, Any] | None = state.get("best")
        self._epoch_start = 0.0
        self._epoch_lr = 0.0

    # -------------------------------------------------------------- restoring
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.resume is None:
            return
        restore_rng_states(self.model, self.resume.model_path.parent / "rng_state.npz")
        callbacks = self.resume.state.get("callbacks", {})
        es = self.early_stopping
        if es is not None and "early_stopping" in callbacks:
            saved = callbacks["early_stopping"]
            es.wait = saved["wait"]
            es.best = saved["best"]
            es.best_epoch = saved["best_epoch"]
            es.stopped_epoch = saved["stopped_epoch"]
            weights = self.resume.model_path.parent / "early_stopping_best.npz"
            if weights.is_file():
                with np.load(weights) as data:
                    es.best_weights = [data[f"w{i}"] for i in range(len(data.files))]
        rl = self.reduce_lr
        if rl is not None and "reduce_lr" in callbacks:
            saved = callbacks["reduce_lr"]
            rl.wait = saved["wait"]
            rl.best = saved["best"]
            rl.cooldown_counter = saved["cooldown_counter"]

    def initial_state(self) -> dict[str, Any]:
        """The state before the first epoch (for a rollback point at epoch 0)."""
        return self._state(0)

    def _state(self, epochs_completed: int) -> dict[str, Any]:
        callbacks: dict[str, Any] = {}
        es = self.early_stopping
        if es is not None:
            callbacks["early_stopping"] = {
                "wait": es.wait,
                "best": float(es.best) if es.best is not None else None,
                "best_epoch": es.best_epoch,
                "stopped_epoch": es.stopped_epoch,
            }
        rl = self.reduce_lr
        if rl is not None:
            callbacks["reduce_lr"] = {
                "wait": rl.wait,
                "best": float(rl.best),
                "cooldown_counter": rl.cooldown_counter,
            }
        return {
            "epochs_completed": epochs_completed,
            "best": self.best,
            "learning_rate": current_learning_rate(self.model),
            "callbacks": callbacks,
        }

    # ---------------------------------------------------------------- recording
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_lr = current_learning_rate(self.model)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row: dict[str, float] = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            if key != "learning_rate":
                row[key] = _scalar(value)
        row["learning_rate"] = self._epoch_lr
        row["epoch_time_s"] = round(time.perf_counter() - self._epoch_start, 4)
        self.rows.append(row)
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        self.run.write_csv("metrics.csv", self.rows, columns)

        checkpoints = self.run.checkpoints
        value = row.get(self.monitor)
        if value is not None and math.isfinite(value) and self._improved(value):
            self.best = {
                "monitor": self.monitor,
                "mode": self.mode,
                "value": value,
                "epoch": epoch + 1,
            }
            tmp = checkpoints / f".best.{id(self)}.tmp.keras"
            self.model.save(tmp)
            publish_file(tmp, checkpoints / "best.keras")
            tmp.unlink(missing_ok=True)
        save_resume_point(
            checkpoints,
            self.model,
            epoch + 1,
            self._state(epoch + 1),
            extra=self._save_extra_state,
        )
        self.run.update(
            epochs_completed=epoch + 1,
            best=self.best,
            final_metrics=split_metrics(row),
        )
        self.sink.epoch(epoch, row)

    def _save_extra_state(self, folder: Path) -> None:
        save_rng_states(self.model, folder / "rng_state.npz")
        es = self.early_stopping
        if es is not None and es.best_weights is not None:
            np.savez(
                folder / "early_stopping_best.npz",
                **{f"w{i}": w for i, w in enumerate(es.best_weights)},
            )

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        best = float(self.best["value"])
        return value < best if self.mode == "min" else value > best
