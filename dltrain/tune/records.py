"""What a study reports: its trials, counts by state and best trial, as typed records.

A leaf module (it imports nothing of the study), so that the study's files, its progress
sinks and the terminal displays can all name these types without importing one another.
``TrialCounts`` and ``BestTrial`` are typed dicts: ``study.json`` holds them as they are, and
``dltrain.tune(...).best["value"]`` stays what docs/tuning.md shows.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

__all__ = ["BestTrial", "StudySummary", "TrialCounts", "TrialRecord"]


class TrialCounts(TypedDict):
    """Trials by state (a killed process's trial counts as ``failed``)."""

    complete: int
    pruned: int
    failed: int
    running: int


class BestTrial(TypedDict):
    """The best complete trial, as ``study.json`` records it."""

    value: float
    params: dict[str, Any]
    trial: int
    run_dir: str | None
    """Relative to the study folder of the host that ran it."""
    host: str | None
    test_metrics: dict[str, float] | None


@dataclass
class TrialRecord:
    """One trial as the study sees it (from any process sharing the study)."""

    number: int
    state: str
    """``complete``, ``pruned``, ``failed``, ``interrupted`` or ``running``."""
    value: float | None
    params: dict[str, Any]
    run_dir: str | None = None
    """Relative to the study folder of the host that ran it."""
    host: str | None = None
    reason: str | None = None
    duration_s: float | None = None
    pruned_at_epoch: int | None = None
    seeds: list[dict[str, Any]] | None = None
    """With ``tune.seeds`` > 1: ``{seed, run_dir, value}`` per seed (``value`` is their mean)."""


@dataclass
class StudySummary:
    """What ``dltrain tune`` reports, and ``study.json`` holds."""

    study: str
    study_dir: Path
    storage: str
    metric: str
    direction: str
    trials_wanted: int
    counts: TrialCounts
    best: BestTrial | None
    trials: list[TrialRecord] = field(default_factory=list)
    best_yaml: Path | None = None
    plots: list[Path] = field(default_factory=list)
    exit_code: int = 0
    message: str | None = None

    @property
    def rerun_command(self) -> str | None:
        """The command that trains the best trial's config again."""
        if self.best_yaml is None:
            return None
        return f"dltrain run {shlex.quote(str(self.best_yaml))}"
