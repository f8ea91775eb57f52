"""One trial: the experiment with the trial's values, trained as an ordinary run folder.

Trials run in the tuning process, one after another: TensorFlow is imported once and Keras's
global state is cleared before each trial, so memory stays flat over long studies.
"""

from __future__ import annotations

import errno
import gc
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.errors import DiskFullError, DltrainError, first_line
from dltrain.tune.config_source import ConfigSource
from dltrain.tune.space import param_overrides

if TYPE_CHECKING:
    import optuna

    from dltrain.engine.run import RunResult
    from dltrain.train.sink import ProgressSink

__all__ = [
    "SeedRun",
    "TrialOutcome",
    "best_value",
    "failed_trial",
    "is_disk_full",
    "latest_run",
    "run_trial",
    "trial_name",
]

_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class SeedRun:
    """One seed's run of a trial that trains on several (``tune.seeds``)."""

    seed: int
    run_dir: Path
    value: float


@dataclass
class TrialOutcome:
    """How a trial ended, in Optuna's terms plus ours (``interrupted``)."""

    state: str
    """``complete``, ``pruned``, ``failed`` or ``interrupted``."""
    value: float | None = None
    run_dir: Path | None = None
    reason: str | None = None
    epochs: int = 0
    pruned_at: int | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    disk_full: bool = False
    """The trial failed because the disk (or quota) is full: the next one would too."""
    seed_runs: list[SeedRun] = field(default_factory=list)
    """With ``tune.seeds`` > 1: each seed's run (``value`` is their mean; empty otherwise)."""


def trial_name(number: int) -> str:
    """The run name of trial ``number``: its folders are ``<study>/trial-0007/<stamp>/``."""
    return f"trial-{number:04d}"


def best_value(rows: Sequence[Mapping[str, float]], metric: str, direction: str) -> float | None:
    """The metric's best epoch among a run's epoch rows (the run's ``metrics.csv``, as the
    run returned them); None when it has no finite value."""
    values = [float(row[metric]) for row in rows if metric in row and math.isfinite(row[metric])]
    if not values:
        return None
    return min(values) if direction == "minimize" else max(values)


def run_trial(
    trial: optuna.trial.Trial,
    source: ConfigSource,
    values: dict[str, Any],
    *,
    metric: str,
    direction: str,
    study_dir: Path,
    progress: ProgressSink | None,
    command: Sequence[str] | None,
    on_run_folder: Callable[[Path], None] | None = None,
    seeds: int = 1,
) -> TrialOutcome:
    """Train one trial into ``study_dir/trial-NNNN/<stamp>/`` and say how it ended.

    With ``seeds`` > 1 the trial trains once per seed (``seed``, ``seed+1``, ... after the
    trial's values), each run its own folder ``trial-NNNN/<stamp>/``; the value is the mean of
    the runs' values. The first run reports to the pruner; a pruned, failed or interrupted
    run ends the trial there.

    ``on_run_folder`` is called with the trial's run folder as soon as it exists (the CLI
    moves its log files there, as for ``dltrain run``).

    Training failures (NaN, a combination Keras rejects) are outcomes, not exceptions: the
    study goes on. ``KeyboardInterrupt`` (a second Ctrl-C) propagates.
    """
    from dltrain.tune.pruning import PruningCallback

    name = trial_name(trial.number)
    overrides = param_overrides(values)
    pruning = PruningCallback(trial, metric)
    first = _run_one(
        source, overrides, name, study_dir, [pruning], progress, command, on_run_folder
    )
    if isinstance(first, TrialOutcome):
        return first
    outcome = _judge(first, metric, direction, pruning.pruned_at)
    if seeds == 1 or outcome.state != "complete":
        return outcome
    base = source.load(overrides).config.seed  # the seed after the trial's values
    runs = [(base, first, outcome)]
    for seed in range(base + 1, base + seeds):
        more = [*overrides, f"seed={seed}"]
        result = _run_one(source, more, name, study_dir, [], progress, command, on_run_folder)
        if isinstance(result, TrialOutcome):
            result.reason = f"seed {seed}: {result.reason}"
            return result
        judged = _judge(result, metric, direction, None)
        if judged.state != "complete":
            judged.reason = f"seed {seed}: {judged.reason}"
            judged.run_dir = first.run_dir
            return judged
        runs.append((seed, result, judged))
    return _mean_over_seeds(runs)


def _run_one(
    source: ConfigSource,
    overrides: list[str],
    name: str,
    study_dir: Path,
    callbacks: list[Any],
    progress: ProgressSink | None,
    command: Sequence[str] | None,
    on_run_folder: Callable[[Path], None] | None,
) -> RunResult | TrialOutcome:
    """One run of the trial, or the failed outcome of a run that raised."""
    import keras

    from dltrain.engine.run import run_experiment

    keras.backend.clear_session()
    gc.collect()
    try:
        # The values apply as --set overrides would, and the run's manifest lists them.
        return run_experiment(
            source.variant(overrides, name),
            runs_dir=study_dir,
            progress=progress,
            command=command,
            callbacks=callbacks,
            on_run_folder=on_run_folder,
        )
    except Exception as exc:  # noqa: BLE001 - any training crash fails this trial, not the study
        return failed_trial(exc, study_dir, name)


def _judge(result: RunResult, metric: str, direction: str, pruned_at: int | None) -> TrialOutcome:
    """How one finished run ends its trial (or its part of it)."""
    outcome = TrialOutcome(
        "complete",
        run_dir=result.run_dir,
        epochs=result.epochs_completed,
        test_metrics=dict(result.test_metrics),
    )
    if result.status == "interrupted":
        outcome.state, outcome.reason = "interrupted", result.message
    elif result.status != "completed":
        outcome.state, outcome.reason = "failed", result.message
        outcome.disk_full = (result.message or "").startswith("disk full")
    elif pruned_at is not None:
        outcome.state, outcome.pruned_at = "pruned", pruned_at
        outcome.value = best_value(result.rows, metric, direction)
    else:
        outcome.value = best_value(result.rows, metric, direction)
        if outcome.value is None:
            outcome.state, outcome.reason = "failed", f"{metric} has no finite value"
    return outcome


def _mean_over_seeds(runs: list[tuple[int, RunResult, TrialOutcome]]) -> TrialOutcome:
    """A trial trained on several seeds: the mean value and test metrics, each run kept."""
    outcomes = [outcome for _, _, outcome in runs]
    values = [o.value for o in outcomes if o.value is not None]
    names = [n for n in outcomes[0].test_metrics if all(n in o.test_metrics for o in outcomes)]
    return TrialOutcome(
        "complete",
        value=statistics.fmean(values),
        run_dir=outcomes[0].run_dir,
        epochs=sum(o.epochs for o in outcomes),
        test_metrics={n: statistics.fmean(o.test_metrics[n] for o in outcomes) for n in names},
        seed_runs=[
            SeedRun(seed, result.run_dir, outcome.value)
            for seed, result, outcome in runs
            if outcome.value is not None
        ],
    )


def failed_trial(exc: Exception, study_dir: Path, name: str) -> TrialOutcome:
    """The outcome of trial ``name`` whose run raised ``exc``."""
    reason = exc.render() if isinstance(exc, DltrainError) else first_line(exc, typed=True)
    return TrialOutcome(
        "failed", run_dir=latest_run(study_dir, name), reason=reason, disk_full=is_disk_full(exc)
    )


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a full disk or quota: a :class:`DiskFullError`, or an
    ``ENOSPC``/``EDQUOT`` error anywhere in its chain (a run that could not start says
    so with a :class:`RunFolderError` raised while handling one)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFullError):
            return True
        if isinstance(current, OSError) and current.errno in _FULL:
            return True
        current = current.__cause__ or current.__context__
    return False


def latest_run(study_dir: Path, name: str) -> Path | None:
    """The newest run folder of a trial (when the run raised instead of returning)."""
    folders = sorted((study_dir / name).glob("*/run.json"))
    return folders[-1].parent if folders else None
