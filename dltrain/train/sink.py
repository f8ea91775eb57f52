"""Where training progress goes: the :class:`ProgressSink` Protocol and its null sink.

No Keras here, so the engine and tracking can name a sink without importing TensorFlow; the
terminal sinks (a live bar, plain lines) live in :mod:`dltrain.cli.render.progress`.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["NullProgress", "ProgressSink"]


class ProgressSink(Protocol):
    """Where training progress goes (a terminal display, plain lines, or nowhere)."""

    def start(self, *, epochs: int, start_epoch: int, steps: int) -> None: ...
    def batch(self, epoch: int, step: int, logs: dict[str, Any]) -> None: ...
    def epoch(self, epoch: int, row: dict[str, float]) -> None: ...
    def message(self, text: str) -> None: ...
    def stop(self) -> None: ...


class NullProgress:
    """Shows nothing (``--quiet``, the Python API); the base of the terminal sinks."""

    def start(self, *, epochs: int, start_epoch: int, steps: int) -> None:
        """Training (re)starts."""

    def batch(self, epoch: int, step: int, logs: dict[str, Any]) -> None:
        """A batch finished."""

    def epoch(self, epoch: int, row: dict[str, float]) -> None:
        """An epoch finished."""

    def message(self, text: str) -> None:
        """Something worth saying happened."""

    def stop(self) -> None:
        """Training ended."""
