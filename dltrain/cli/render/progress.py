"""Training progress on the terminal: a live bar, plain lines, or nothing.

Batch updates arrive on Keras's callback thread; they are throttled so that reading the
metric tensors never slows training down.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dltrain.train.sink import NullProgress

__all__ = ["LiveProgress", "LineProgress", "format_row", "make_progress"]

_HIDDEN = ("epoch", "learning_rate", "epoch_time_s")


def _value(value: Any) -> float:
    try:
        return float(value)
    except TypeError:
        import numpy as np

        return float(np.asarray(value).reshape(-1)[0])


def format_row(row: dict[str, float]) -> str:
    """``loss 0.2345 · accuracy 0.9312 · val_loss ...`` for one epoch's metrics."""
    parts = [f"{k} {v:.4g}" for k, v in row.items() if k not in _HIDDEN]
    if "learning_rate" in row:
        parts.append(f"lr {row['learning_rate']:.3g}")
    if "epoch_time_s" in row:
        parts.append(f"{row['epoch_time_s']:.1f}s")
    return " · ".join(parts)


class LineProgress(NullProgress):
    """One plain line per epoch (logs, CI, pipes)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.epochs = 0

    def start(self, *, epochs: int, start_epoch: int, steps: int) -> None:
        self.epochs = epochs

    def epoch(self, epoch: int, row: dict[str, float]) -> None:
        width = len(str(self.epochs))
        self.console.print(
            f"epoch {epoch + 1:>{width}}/{self.epochs}  {format_row(row)}",
            markup=False,
            highlight=False,
        )

    def message(self, text: str) -> None:
        self.console.print(text, markup=False)


class LiveProgress(LineProgress):
    """A live progress bar with the running metrics, plus a line per finished epoch."""

    def __init__(self, console: Console, refresh_s: float = 0.25) -> None:
        super().__init__(console)
        self.refresh_s = refresh_s
        self._progress: Progress | None = None
        self._task: Any = None
        self._last = 0.0
        self._lock = threading.Lock()

    def start(self, *, epochs: int, start_epoch: int, steps: int) -> None:
        super().start(epochs=epochs, start_epoch=start_epoch, steps=steps)
        self.steps = steps
        if self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}", markup=False),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        self._new_task(start_epoch)

    def _new_task(self, epoch: int) -> None:
        assert self._progress is not None
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(
            "train", total=self.steps, epoch=f"{epoch + 1}/{self.epochs}", metrics=""
        )

    def batch(self, epoch: int, step: int, logs: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last < self.refresh_s or self._progress is None:
            return
        with self._lock:
            self._last = now
            metrics = " · ".join(f"{k} {_value(v):.4g}" for k, v in logs.items())
            self._progress.update(
                self._task,
                completed=step + 1,
                epoch=f"{epoch + 1}/{self.epochs}",
                metrics=metrics,
            )

    def epoch(self, epoch: int, row: dict[str, float]) -> None:
        with self._lock:
            super().epoch(epoch, row)
            if self._progress is not None and epoch + 1 < self.epochs:
                self._new_task(epoch + 1)

    def stop(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
                self._task = None


def make_progress(console: Console, quiet: bool = False) -> NullProgress:
    """Pick the display: nothing with ``quiet``, a live bar on a terminal, else plain lines."""
    if quiet:
        return NullProgress()
    if console.is_terminal and not os.environ.get("CI"):
        return LiveProgress(console)
    return LineProgress(console)
