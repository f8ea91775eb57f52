"""The terminal side of ``dltrain tune``: a live table of trials, or one line per trial.

The console is handed in (tests pass a ``Console(file=io.StringIO())``); only the CLI makes
one. Epochs of the running trial arrive through
:meth:`dltrain.tune.sink.NullTuneProgress.sink`, a progress sink of the ordinary run.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dltrain.tune.records import StudySummary, TrialRecord
from dltrain.tune.sink import NullTuneProgress

__all__ = [
    "LineTuneProgress",
    "LiveTuneProgress",
    "make_tune_progress",
    "render_study_summary",
]

_SHOWN_TRIALS = 15  # the live table keeps the newest trials; study.json has them all


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.5g}"


def _trial_value(record: TrialRecord) -> str:
    """The value; with ``tune.seeds``, ``mean ±std (N seeds)`` over the seeds' values."""
    values = [float(s["value"]) for s in record.seeds or () if s.get("value") is not None]
    if record.value is None or len(values) < 2:
        return _value(record.value)
    import statistics

    return f"{_value(record.value)} ±{statistics.stdev(values):.2g} ({len(values)} seeds)"


def _params(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={text}")
    return "  ".join(parts)


def _state(record: TrialRecord) -> str:
    """``pruned@2`` for a trial pruned after epoch 2; else the state."""
    if record.state == "pruned" and record.pruned_at_epoch:
        return f"pruned@{record.pruned_at_epoch}"
    return record.state


class QuietTuneProgress(NullTuneProgress):
    """Shows nothing (``--quiet``), but keeps each trial's log files in its run folder."""

    def trial_folder(self, path: Path) -> None:
        # TensorFlow's native log and library warnings go to the trial's logs/, as a plain
        # run's go to its own (nothing happens with --debug: they stay on the terminal).
        from dltrain.runtime.quiet import attach_logs

        attach_logs(path)


class LineTuneProgress(QuietTuneProgress):
    """One plain line per finished trial (logs, CI, pipes)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def start(self, summary: StudySummary) -> None:
        super().start(summary)
        self.console.print(
            f"study {summary.study} ({summary.direction} {self.metric}), "
            f"{summary.counts['complete']}/{summary.trials_wanted} complete trials, "
            f"storage {summary.storage}",
            markup=False,
        )

    def trial_finished(self, record: TrialRecord) -> None:
        state = _state(record)
        line = f"trial {record.number:>3}  {state:<11} {self.metric} {_trial_value(record)}"
        line += f"  {_params(record.params)}"
        if record.reason:
            line += f"  ({record.reason.splitlines()[0]})"
        self.console.print(line, markup=False)

    def message(self, text: str) -> None:
        self.console.print(text, markup=False)


class LiveTuneProgress(QuietTuneProgress):
    """A live table: finished trials, then the running one with its latest epoch."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: list[TrialRecord] = []
        self.running: tuple[int, dict[str, Any], str, float] | None = None
        self.header = ""
        self._live: Live | None = None
        self._lock = threading.Lock()

    def start(self, summary: StudySummary) -> None:
        super().start(summary)
        self.header = (
            f"study {summary.study}: {summary.direction} {self.metric}, "
            f"{summary.trials_wanted} complete trials wanted · {summary.study_dir}"
        )
        self.rows = [t for t in summary.trials if t.state != "running"]
        self._live = Live(self._render(), console=self.console, refresh_per_second=4)
        self._live.start()

    def _render(self) -> Group:
        table = Table(title=self.header, title_justify="left")
        for column in ("trial", "params", self.metric or "value", "state", "time"):
            table.add_column(column, justify="right" if column in ("trial", "time") else "left")
        for row in self.rows[-_SHOWN_TRIALS:]:
            took = f"{row.duration_s:.0f}s" if row.duration_s is not None else "-"
            state = _state(row)
            table.add_row(
                Text(str(row.number)),
                Text(_params(row.params)),
                Text(_trial_value(row)),
                Text(state, style=_STYLE.get(row.state, "")),
                Text(took),
            )
        if self.running is not None:
            number, params, status, since = self.running
            table.add_row(
                Text(str(number)),
                Text(_params(params)),
                Text("-"),
                Text(status, style="cyan"),
                Text(f"{time.monotonic() - since:.0f}s"),
            )
        return Group(table)

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        with self._lock:
            self.running = (number, params, "running", time.monotonic())
            self._refresh()

    def trial_epoch(self, number: int, epoch: int, epochs: int, row: dict[str, float]) -> None:
        with self._lock:
            if self.running is not None:
                value = row.get(self.metric)
                status = f"epoch {epoch}/{epochs}"
                if value is not None:
                    status += f" {self.metric} {value:.4g}"
                self.running = (number, self.running[1], status, self.running[3])
                self._refresh()

    def trial_finished(self, record: TrialRecord) -> None:
        with self._lock:
            self.running = None
            self.rows.append(record)
            self._refresh()

    def message(self, text: str) -> None:
        self.console.print(text, markup=False)

    def stop(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None


_STYLE = {"complete": "green", "pruned": "yellow", "failed": "red", "interrupted": "yellow"}


def make_tune_progress(console: Console, quiet: bool = False) -> NullTuneProgress:
    """Nothing with ``quiet``, a live table on a terminal, else one line per trial."""
    if quiet:
        return QuietTuneProgress()
    if console.is_terminal and not os.environ.get("CI"):
        return LiveTuneProgress(console)
    return LineTuneProgress(console)


def render_study_summary(console: Console, summary: StudySummary) -> None:
    """Counts by state, the best trial and the command that trains it again."""
    counts = summary.counts
    console.print(
        f"study {summary.study}: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['failed']} failed, {counts['running']} running "
        f"({summary.trials_wanted} complete wanted)",
        markup=False,
    )
    best = summary.best
    if best is not None:
        console.print(
            f"best: trial {best['trial']}  {summary.metric} {_value(best['value'])}  "
            f"{_params(best['params'])}",
            markup=False,
            style="green",
        )
        if best["run_dir"]:
            where = Path(summary.study_dir) / best["run_dir"]
            host = f" (on {best['host']})" if best["host"] else ""
            console.print(f"best run folder: {where}{host}", markup=False)
        console.print(f"train it again: {summary.rerun_command}", markup=False)
    if summary.message:
        style = "yellow" if summary.exit_code == 130 else ("red" if summary.exit_code else "")
        console.print(summary.message, markup=False, style=style)
    console.print(f"study folder: {summary.study_dir}", markup=False)
