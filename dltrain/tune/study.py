"""``tune_study``: check the ``tune:`` section, then run trials until the study has enough.

The loop is Optuna's ask-and-tell: under the study lock a process counts the trials and
starts one only while complete plus running trials are fewer than asked, so any number of
processes sharing a study finish exactly that many complete trials.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltrain.config import LoadedConfig
from dltrain.errors import RunFolderError, UsageError
from dltrain.storage import RunFolder, utc_now
from dltrain.tune.checks import TunePlan, check_tune
from dltrain.tune.config_source import ConfigSource
from dltrain.tune.objective import TrialOutcome, latest_run, run_trial, trial_name
from dltrain.tune.space import suggest_params
from dltrain.tune.storage import (
    Heartbeat,
    claim_lock,
    fail_lost_trials,
    open_storage,
    this_process,
)
from dltrain.tune.study_files import (
    StudySummary,
    count_trials,
    read_trials,
    study_summary,
    write_study_files,
)
from dltrain.utils.urls import public_url

__all__ = ["StudySummary", "tune_study"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# While other processes' trials would complete the study, look again this often.
_WAIT_S = 2.0


@dataclass
class _Run:
    """What one ``tune_study`` call works with."""

    loaded: LoadedConfig
    plan: TunePlan
    source: ConfigSource
    study: Any
    storage: Any
    study_dir: Path
    url: str
    wanted: int
    progress: Any
    command: Sequence[str] | None
    notes: list[str] = field(default_factory=list)
    tracking: Any = None
    """The MLflow parent run (``dltrain.tracking.Study``) when the config asks for tracking."""


def tune_study(
    config: Any,
    overrides: Sequence[str] = (),
    *,
    trials: int | None = None,
    timeout: float | None = None,
    study: str | None = None,
    storage: str | None = None,
    runs_dir: Path | None = None,
    progress: Any = None,
    command: Sequence[str] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> StudySummary:
    """Search the config's ``tune.space`` with Optuna; every trial is a run folder.

    Args:
        config: A config file or a mapping, with a ``tune:`` section.
        overrides: ``--set`` overrides, applied before the search.
        trials: Complete trials the study should have in total (default ``tune.trials``).
        timeout: Seconds after which no new trial starts (default ``tune.timeout``).
        study: Study name (default: the config's name).
        storage: An SQLAlchemy URL Optuna accepts (default: SQLite in the study folder).
        runs_dir: Folder of run folders; the study folder is ``<runs_dir>/<name>/<study>``.
        progress: A :class:`dltrain.tune.sink.NullTuneProgress` or a terminal display
            from :mod:`dltrain.cli.render.tune` (default: silent).
        command: The command line, recorded in every trial's ``run.json``.
        clock: Seconds, for the timeout.

    Returns:
        The study's summary (also written to ``study.json``); ``exit_code`` is 130 when a
        trial was interrupted, 1 when no trial completed, else 0.

    Raises:
        ConfigError, DataError: a bad config or ``tune:`` section (before any trial).
        UsageError: bad arguments, or a storage that cannot be opened.
    """
    from dltrain.tune.sink import NullTuneProgress

    started = clock()
    source = ConfigSource.of(config, overrides)
    loaded = source.load()
    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1; received {trials}")
    if timeout is not None and timeout <= 0:
        raise UsageError(f"--timeout must be positive; received {timeout}")
    plan = check_tune(loaded, source)
    tune = loaded.config.tune
    assert tune is not None
    name = study or loaded.config.name
    if not _NAME.match(name):
        raise UsageError(
            f"--study {name!r}: use letters, digits, '_', '.' and '-' (it names a folder)"
        )
    root = Path(runs_dir or loaded.config.output.runs_dir or "runs")
    study_dir = root / loaded.config.name / name
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(
            f"{study_dir}: cannot create the study folder ({exc.strerror}); "
            "choose another with --runs-dir"
        ) from exc
    url = storage or f"sqlite:///{study_dir.resolve() / 'study.db'}"
    rdb = open_storage(url)
    wanted = trials or tune.trials
    notes = []
    if plan.grid is not None:
        size = math.prod(len(v) for v in plan.grid.values())
        if wanted > size:
            notes.append(f"the grid has {size} points: the study stops at {size} trials")
            wanted = size
    with _optuna_logging_quiet():
        optuna_study = _open_study(rdb, name, plan, loaded, shared=storage is not None)
        run = _Run(
            loaded,
            plan,
            source,
            optuna_study,
            rdb,
            study_dir,
            public_url(url),
            wanted,
            progress or NullTuneProgress(),
            command,
            notes,
        )
        limit = timeout if timeout is not None else tune.timeout
        with _tracked_study(run) as run.tracking:
            return _optimize(run, started, limit, clock)


@contextlib.contextmanager
def _tracked_study(run: _Run) -> Iterator[Any]:
    """The study as an MLflow parent run, its trials as children (docs/tracking.md)."""
    from dltrain.tracking import check_tracking
    from dltrain.tracking.nested import study_run
    from dltrain.tracking.settings import settings_from

    loaded = run.loaded
    check_tracking(loaded)
    with loaded.located():
        settings = settings_from(loaded.to_dict())
    if settings is None:
        yield None
        return
    with study_run(
        settings.uri,
        settings.experiment,
        run.study.study_name,
        direction=run.plan.direction,
        tags={"dltrain.study_dir": str(run.study_dir.resolve())},
        warn=run.progress.message,
    ) as study:
        yield study


@contextlib.contextmanager
def _optuna_logging_quiet() -> Iterator[None]:
    """Optuna logs every trial at INFO; the trial table says it better."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def _open_study(storage: Any, name: str, plan: TunePlan, loaded: LoadedConfig, shared: bool) -> Any:
    """Create the study, or load it and check it still optimizes the same thing."""
    import optuna

    from dltrain.tune.samplers import make_pruner, make_sampler

    tune = loaded.config.tune
    assert tune is not None
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    if name in existing:
        previous = existing[name]
        metric = previous.user_attrs.get("metric")
        direction = previous.direction.name.lower()
        if metric != plan.metric or direction != plan.direction:
            raise UsageError(
                f"study {name!r} already optimizes {metric} ({direction}); this config asks "
                f"for {plan.metric} ({plan.direction}). Name a new study with --study NAME"
            )
    done = existing[name].n_trials if name in existing else 0
    # Reruns and other processes must not replay the same random draws: the seed moves on
    # with the trials already made (and, for shared studies, with the process).
    seed = loaded.config.seed + done
    if shared:
        seed += this_process()["pid"]
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction=plan.direction,
        sampler=make_sampler(tune.sampler, seed, plan.grid),
        pruner=make_pruner(tune.pruner, loaded.config.training.epochs),
        load_if_exists=True,
    )
    if name not in existing:
        study.set_user_attr("metric", plan.metric)
        study.set_user_attr("config", loaded.config.name)
    return study


def _optimize(
    run: _Run, started: float, limit: float | None, clock: Callable[[], float]
) -> StudySummary:
    progress = run.progress
    fail_lost_trials(run.study)
    _mark_lost_runs(run)
    progress.start(study_summary(run))
    for note in run.notes:
        progress.message(note)
    exit_code, message = 0, None
    failed_here = 0
    waiting_said = False
    try:
        while True:
            if limit is not None and clock() - started >= limit:
                message = f"timeout: no new trial after {limit:g} s"
                break
            with claim_lock(run.storage, run.study.study_name):
                fail_lost_trials(run.study)
                counts = count_trials(run.study)
                if counts["complete"] >= run.wanted:
                    break
                tried = counts["complete"] + counts["pruned"] + counts["failed"]
                if run.plan.grid is not None and tried >= math.prod(
                    map(len, run.plan.grid.values())
                ):
                    message = "every grid point has been tried"
                    break
                trial = None
                if counts["complete"] + counts["running"] < run.wanted:
                    trial = _ask(run.study)
                    for key, value in this_process().items():
                        trial.set_user_attr(key, value)
                    run.storage.record_heartbeat(trial._trial_id)
            if trial is None:
                if not waiting_said:
                    progress.message(
                        f"waiting: {counts['running']} running trial(s) of other processes "
                        "would complete the study"
                    )
                    waiting_said = True
                time.sleep(_WAIT_S)
                continue
            waiting_said = False
            outcome = _one_trial(run, trial, clock)
            if outcome.state == "interrupted":
                exit_code = 130
                message = (
                    f"interrupted: trial {trial.number} marked interrupted; run the same "
                    "command again to continue the study"
                )
                break
            if outcome.state == "failed":
                failed_here += 1
                if failed_here >= max(run.wanted, 3) and count_trials(run.study)["complete"] == 0:
                    message = f"stopped: {failed_here} trials failed and none completed"
                    break
    finally:
        progress.stop()
    summary = write_study_files(run, plots=True)
    if exit_code == 0 and summary.best is None:
        exit_code = 1
        message = message or "no trial completed"
    summary.exit_code, summary.message = exit_code, message
    return summary


def _ask(study: Any) -> Any:
    with warnings.catch_warnings():
        # We run the heartbeat ourselves (storage.Heartbeat), as Study.optimize would.
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        return study.ask()


def _one_trial(run: _Run, trial: Any, clock: Callable[[], float]) -> TrialOutcome:
    """Run one asked trial under its heartbeat and tell Optuna how it ended."""
    progress = run.progress
    t0 = clock()
    outcome = TrialOutcome("interrupted", reason="interrupted before training started")
    with Heartbeat(run.storage, trial._trial_id):
        try:
            values = suggest_params(trial, run.plan.params)
            progress.trial_started(trial.number, values)
            with run.tracking.trial() if run.tracking else contextlib.nullcontext():
                outcome = run_trial(
                    trial,
                    run.source,
                    values,
                    metric=run.plan.metric,
                    direction=run.plan.direction,
                    study_dir=run.study_dir,
                    progress=progress.sink(trial.number),
                    command=run.command,
                )
        except KeyboardInterrupt:
            outcome.run_dir = latest_run(run.study_dir, trial_name(trial.number))
            _tell(run, trial, outcome, clock() - t0)
            write_study_files(run, plots=False)
            raise
        _tell(run, trial, outcome, clock() - t0)
    write_study_files(run, plots=False)
    progress.trial_finished(read_trials(run.study, numbers={trial.number})[0])
    return outcome


def _tell(run: _Run, trial: Any, outcome: TrialOutcome, seconds: float) -> None:
    import optuna
    from optuna.trial import TrialState

    relative = (
        str(outcome.run_dir.relative_to(run.study_dir)) if outcome.run_dir is not None else None
    )
    attrs: dict[str, Any] = {"state": outcome.state, "run_dir": relative, "reason": outcome.reason}
    if outcome.pruned_at is not None:
        attrs["pruned_at_epoch"] = outcome.pruned_at
    if outcome.test_metrics:
        attrs["test_metrics"] = outcome.test_metrics
    try:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if outcome.state == "complete":
            run.study.tell(trial, outcome.value)
        elif outcome.state == "pruned":
            run.study.tell(trial, state=TrialState.PRUNED)
        else:
            run.study.tell(trial, state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass  # another process failed it as stale (no heartbeat for too long): it stays so
    if outcome.run_dir is not None:
        _record_in_run(run, trial.number, outcome, seconds)
        if run.tracking is not None and outcome.state == "complete":
            run.tracking.record(outcome.run_dir, outcome.value, dict(trial.params))


def _record_in_run(run: _Run, number: int, outcome: TrialOutcome, seconds: float) -> None:
    """The trial's side of the story in its ``run.json``: study, number, values, state."""
    assert outcome.run_dir is not None
    folder = RunFolder.open(outcome.run_dir)
    params = {}
    for trial in run.study.get_trials(deepcopy=False):
        if trial.number == number:
            params = dict(trial.params)
    folder.update(
        tune={
            "study": run.study.study_name,
            "study_dir": str(run.study_dir.resolve()),
            "trial": number,
            "state": outcome.state,
            "metric": run.plan.metric,
            "value": outcome.value,
            "params": params,
            "pruned_at_epoch": outcome.pruned_at,
            "reason": outcome.reason,
            "duration_s": round(seconds, 3),
        }
    )


def _mark_lost_runs(run: _Run) -> None:
    """Run folders still saying ``running`` whose trial Optuna no longer runs: a killed
    process left them. They say ``interrupted`` now, as a Ctrl-C would have left them."""
    from optuna.trial import TrialState

    states = {t.number: t for t in run.study.get_trials(deepcopy=False)}
    for manifest in sorted(run.study_dir.glob("trial-*/*/run.json")):
        number_text = manifest.parent.parent.name.removeprefix("trial-")
        if not number_text.isdigit():
            continue
        trial = states.get(int(number_text))
        if trial is None or trial.state == TrialState.RUNNING:
            continue
        folder = RunFolder.open(manifest.parent)
        if folder.manifest.status != "running":
            continue
        reason = trial.user_attrs.get("reason") or "the tuning process stopped"
        folder.update(
            status="interrupted",
            error=f"interrupted: {reason}; Optuna marked trial {trial.number} failed",
            finished_at=utc_now().isoformat(),
            tune={
                "study": run.study.study_name,
                "trial": trial.number,
                "state": "failed",
                "reason": reason,
            },
        )
