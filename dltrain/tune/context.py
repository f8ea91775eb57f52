"""``StudyContext``: what one ``tune_study`` call works with, handed to the study's files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

    from dltrain.config import LoadedConfig
    from dltrain.tracking.nested import Study as TrackedStudy
    from dltrain.tune.checks import TunePlan
    from dltrain.tune.config_source import ConfigSource
    from dltrain.tune.sink import NullTuneProgress

__all__ = ["StudyContext"]


@dataclass
class StudyContext:
    """One study as this process runs it: the checked config, the Optuna study, where its
    files go and who hears about its progress."""

    loaded: LoadedConfig
    """The experiment with its ``tune`` section and the user's overrides."""
    plan: TunePlan
    source: ConfigSource
    """Where each trial's experiment (and ``best.yaml``) is loaded from."""
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    """The study's relational storage (heartbeats, the study lock's engine)."""
    study_dir: Path
    url: str
    """The storage URL without its password (for ``study.json`` and the terminal)."""
    wanted: int
    """Complete trials the study should have in total."""
    progress: NullTuneProgress
    command: Sequence[str] | None
    """The command line, recorded in every trial's ``run.json``."""
    notes: list[str] = field(default_factory=list)
    """Said once the study starts (a grid smaller than the trials asked for)."""
    tracking: TrackedStudy | None = None
    """The MLflow parent run when the config asks for tracking."""
    best_yaml_trial: int | None = None
    """The trial whose values ``best.yaml`` holds, once this process wrote it."""
    fingerprint: str | None = None
    """The hash of the experiment outside the search space (dltrain.tune.fingerprint)."""
