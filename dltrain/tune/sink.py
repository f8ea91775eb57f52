"""Where a study's progress goes: the null display, which the terminal ones extend.

Library code reports through these methods and never prints; the live table and the plain
lines live in :mod:`dltrain.cli.render.tune`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from dltrain.tune.records import StudySummary, TrialRecord

__all__ = ["NullTuneProgress"]

# How a run's sink message starts when it is a warning (dltrain.engine.run: data warnings).
_WARNING = "warning: "


class _EpochSink:
    """A run's progress sink that forwards finished epochs to the trial display."""

    def __init__(self, owner: NullTuneProgress, number: int) -> None:
        self.owner = owner
        self.number = number
        self.epochs = 0

    def start(self, *, epochs: int, start_epoch: int, steps: int) -> None:
        self.epochs = epochs

    def batch(self, epoch: int, step: int, logs: dict[str, Any]) -> None:
        """Batches are not shown: the table changes once per epoch."""

    def epoch(self, epoch: int, row: dict[str, float]) -> None:
        self.owner.trial_epoch(self.number, epoch + 1, self.epochs, row)

    def message(self, text: str) -> None:
        if text.startswith(_WARNING):
            # Every trial loads the same data: its warnings are said once per study.
            if text in self.owner.warned:
                return
            self.owner.warned.add(text)
        self.owner.message(text)

    def stop(self) -> None:
        """The run's training ended; the trial's end is reported by the study."""


class NullTuneProgress:
    """Shows nothing (the Python API, ``--quiet``); the base of the terminal displays."""

    metric = ""
    _warned: set[str] | None = None

    @property
    def warned(self) -> set[str]:
        """The trials' warnings said so far (each is said once per study)."""
        if self._warned is None:
            self._warned = set()
        return self._warned

    def start(self, summary: StudySummary) -> None:
        """The study is open (its trials so far in ``summary``)."""
        self.metric = summary.metric

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        """A trial of this process starts."""

    def trial_folder(self, path: Path) -> None:
        """The running trial's run folder exists (the CLI moves its log files there)."""

    def trial_epoch(self, number: int, epoch: int, epochs: int, row: dict[str, float]) -> None:
        """The running trial finished an epoch."""

    def trial_finished(self, record: TrialRecord) -> None:
        """A trial of this process ended (any state)."""

    def message(self, text: str) -> None:
        """Something worth saying happened."""

    def stop(self) -> None:
        """The study loop ended."""

    def sink(self, number: int) -> _EpochSink:
        """The progress sink for trial ``number``'s run."""
        return _EpochSink(self, number)
