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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.config import LoadedConfig
from dltrain.config.overrides import parse_key_path
from dltrain.errors import RunFolderError, StudyError, UsageError, first_line
from dltrain.storage import RunFolder, utc_now
from dltrain.storage.manifest import TuneRecord
from dltrain.tune.checks import TunePlan, check_tune
from dltrain.tune.config_source import ConfigSource
from dltrain.tune.context import StudyContext
from dltrain.tune.fingerprint import describe_changes, experiment_values, fingerprint
from dltrain.tune.objective import (
    TrialOutcome,
    is_disk_full,
    latest_run,
    run_trial,
    trial_name,
)
from dltrain.tune.records import StudySummary
from dltrain.tune.samplers import require_sampler
from dltrain.tune.sink import NullTuneProgress
from dltrain.tune.space import suggest_params
from dltrain.tune.storage import (
    Heartbeat,
    claim_lock,
    current_trials,
    damaged_storage,
    is_finished,
    open_storage,
    require_driver,
    this_process,
    trial_id,
)
from dltrain.tune.study_files import (
    count_trials,
    study_summary,
    trial_records,
    write_study_files,
)
from dltrain.utils.urls import public_url

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from dltrain.tracking.nested import Study as TrackedStudy

__all__ = ["StudySummary", "tune_study"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# While other processes' trials would complete the study, look again this often.
_WAIT_S = 2.0
# The study's user attributes that record its experiment (dltrain.tune.fingerprint).
_EXPERIMENT = "experiment"
_FINGERPRINT = "fingerprint"


def tune_study(
    config: str | Path | dict[str, Any],
    overrides: Sequence[str] = (),
    *,
    trials: int | None = None,
    timeout: float | None = None,
    study: str | None = None,
    storage: str | None = None,
    runs_dir: Path | None = None,
    progress: NullTuneProgress | None = None,
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
        UsageError: bad arguments, a storage that cannot be opened, or a missing extra
            (``dltrain[postgres]``, ``dltrain[cmaes]``).
    """
    from dltrain.data.sharing import sharing_datasets

    started = clock()
    source = ConfigSource.of(config, overrides)
    loaded = source.load()
    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1; received {trials}")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        # nan compares false with everything: `timeout <= 0` let it through as "no timeout".
        raise UsageError(f"--timeout must be a positive number of seconds; received {timeout}")
    if study is not None and not _NAME.match(study):
        # Said before the models are built; '' is refused, not read as the default name.
        raise UsageError(
            f"--study {study!r}: use letters, digits, '_', '.' and '-' (it names a folder)"
        )
    tune = loaded.config.tune
    if tune is not None:
        # Before check_tune builds models: a missing extra is said at once.
        require_sampler(tune.sampler)
    if storage is not None:
        require_driver(storage)
    from dltrain.tracking import check_tracking

    check_tracking(loaded)  # a bad tracking URI is refused before the study folder exists
    # The experiment's data is loaded once for the whole study (check_tune's model builds
    # and every trial) unless a trial may change it.
    seeds = loaded.config.tune.seeds if loaded.config.tune is not None else 1
    # Each seed splits the data its own way: one shared load per seed.
    shared = contextlib.nullcontext() if _searches_data(loaded) else sharing_datasets(seeds)
    with shared:
        plan = check_tune(loaded, source)
        assert tune is not None  # check_tune raised otherwise
        name = loaded.config.name if study is None else study
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
            optuna_study = _open_study(
                rdb, name, plan, loaded, shared=storage is not None, study_dir=study_dir, url=url
            )
            context = StudyContext(
                loaded=loaded,
                plan=plan,
                source=source,
                study=optuna_study,
                storage=rdb,
                study_dir=study_dir,
                url=public_url(url),
                wanted=wanted,
                progress=progress or NullTuneProgress(),
                command=command,
                notes=notes,
                fingerprint=fingerprint(experiment_values(loaded, [p.path for p in plan.params])),
            )
            limit = timeout if timeout is not None else tune.timeout
            with _tracked_study(context) as context.tracking:
                return _optimize(context, started, limit, clock)


def _searches_data(loaded: LoadedConfig) -> bool:
    """Whether a trial may load other data than the experiment: a ``data.*`` or ``seed``
    key is searched (the seed draws the splits). Keys that are no key path count too;
    check_tune reports them."""
    tune = loaded.config.tune
    for key in tune.space if tune is not None else ():
        try:
            path = parse_key_path(key)
        except ValueError:
            return True
        if path[0] in ("data", "seed"):
            return True
    return False


@contextlib.contextmanager
def _tracked_study(context: StudyContext) -> Iterator[TrackedStudy | None]:
    """The study as an MLflow parent run, its trials as children (docs/tracking.md)."""
    from dltrain.tracking import check_tracking
    from dltrain.tracking.nested import study_run
    from dltrain.tracking.settings import settings_from

    loaded = context.loaded
    check_tracking(loaded)
    with loaded.located():
        settings = settings_from(loaded.to_dict())
    if settings is None:
        yield None
        return
    with study_run(
        settings.uri,
        settings.experiment,
        context.study.study_name,
        direction=context.plan.direction,
        tags={"dltrain.study_dir": str(context.study_dir.resolve())},
        warn=context.progress.message,
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


_CREATING_S = 60.0
"""How long to wait for another process that has just created a shared study to record what
it optimizes (``create_study`` and ``set_user_attr`` are two steps)."""


def _summaries(storage: optuna.storages.RDBStorage, name: str) -> dict[str, Any]:
    """Every study's summary by name; waits while study ``name`` exists without its metric."""
    import optuna

    deadline = time.monotonic() + _CREATING_S
    while True:
        existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
        found = existing.get(name)
        if found is None or "metric" in found.user_attrs or time.monotonic() > deadline:
            return existing
        time.sleep(0.2)


def _open_study(
    storage: optuna.storages.RDBStorage,
    name: str,
    plan: TunePlan,
    loaded: LoadedConfig,
    *,
    shared: bool,
    study_dir: Path,
    url: str,
) -> optuna.Study:
    """Create the study, or load it and check it still optimizes the same thing with the
    same experiment.

    Raises:
        UsageError: another metric or direction, another experiment outside the search
            space, or trial folders in ``study_dir`` of a study the storage does not hold.
    """
    import optuna

    from dltrain.tune.samplers import make_pruner, make_sampler

    tune = loaded.config.tune
    assert tune is not None
    # Looked at before the storage: a process that made a trial folder had made the study.
    had_trials = _has_trial_folders(study_dir)
    existing = _summaries(storage, name)
    values = experiment_values(loaded, [p.path for p in plan.params])
    if name in existing:
        previous = existing[name]
        metric = previous.user_attrs.get("metric")
        assert previous.direction is not None  # single-objective: dltrain makes no other
        direction = previous.direction.name.lower()
        if metric != plan.metric or direction != plan.direction:
            raise UsageError(
                f"study {name!r} already optimizes {metric} ({direction}); this config asks "
                f"for {plan.metric} ({plan.direction}). Name a new study with --study NAME"
            )
        _check_experiment(name, previous.user_attrs, values)
    elif had_trials:
        raise UsageError(
            f"{study_dir}: the study folder holds trial folders, but the study storage "
            f"{public_url(url)} has no study {name!r} (its study.db is empty, deleted or "
            "replaced): a new study would reuse their trial numbers. Restore the storage, "
            "start a new study with --study NEW, or move the trial-* folders away"
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
    if existing.get(name) is None or _EXPERIMENT not in existing[name].user_attrs:
        # A study made before dltrain recorded its experiment takes this one's.
        study.set_user_attr(_EXPERIMENT, values)
        study.set_user_attr(_FINGERPRINT, fingerprint(values))
    return study


def _has_trial_folders(study_dir: Path) -> bool:
    """Whether a trial of some study left a run folder here."""
    return any(p.is_dir() for p in study_dir.glob("trial-*/*"))


def _check_experiment(name: str, attrs: dict[str, Any], values: dict[str, Any]) -> None:
    """Refuse to continue study ``name`` with an experiment other than the one its trials ran.

    Raises:
        UsageError: the values outside the search space changed, listed as old -> new.
    """
    recorded = attrs.get(_EXPERIMENT)
    if not isinstance(recorded, dict) or attrs.get(_FINGERPRINT) == fingerprint(values):
        return
    changes = describe_changes(recorded, values)
    if not changes:
        return
    lines = "\n".join(f"  {line}" for line in changes)
    raise UsageError(
        f"study {name!r} was run with another experiment; its trials would not compare with "
        f"this one's. Changed outside the search space (study -> now):\n{lines}\n"
        "Start a new study with --study NEW, or run the study's experiment as it was"
    )


def _optimize(
    context: StudyContext, started: float, limit: float | None, clock: Callable[[], float]
) -> StudySummary:
    """Start trials until the study has enough; report each one as the next step reads it.

    Every step reads the study's trials once (:func:`current_trials`, under the study lock)
    and derives everything from that read: whether to start a trial, and ``study.json``,
    ``best.yaml`` and the progress line of the trial this process finished last.
    """
    progress = context.progress
    trials = current_trials(context.study)
    _mark_lost_runs(context, trials)
    progress.start(study_summary(context, trials))
    for note in context.notes:
        progress.message(note)
    exit_code, message = 0, None
    failed_here = 0
    waiting_said = False
    finished: int | None = None  # this process's last trial, not reported yet
    fresh = True  # nothing happened since `trials` was read
    try:
        while True:
            if limit is not None and clock() - started >= limit:
                message = f"timeout: no new trial after {limit:g} s"
                break
            with claim_lock(context.storage, context.study.study_name):
                trials, fresh = current_trials(context.study), True
                if finished is not None:
                    counts = _report(context, trials, finished).counts
                    finished = None
                else:
                    counts = count_trials(trials)
                if counts["complete"] >= context.wanted:
                    break
                tried = counts["complete"] + counts["pruned"] + counts["failed"]
                if context.plan.grid is not None and tried >= math.prod(
                    map(len, context.plan.grid.values())
                ):
                    message = "every grid point has been tried"
                    break
                if failed_here >= max(context.wanted, 3) and counts["complete"] == 0:
                    message = f"stopped: {failed_here} trials failed and none completed"
                    break
                trial = None
                if counts["complete"] + counts["running"] < context.wanted:
                    trial = _ask(context.study)
                    for key, value in this_process().items():
                        trial.set_user_attr(key, value)
                    context.storage.record_heartbeat(trial_id(trial))
            if trial is None:
                if not waiting_said:
                    progress.message(
                        f"waiting: {counts['running']} running trial(s) of other processes "
                        "would complete the study"
                    )
                    waiting_said = True
                time.sleep(_WAIT_S)
                fresh = False
                continue
            waiting_said = False
            outcome = _one_trial(context, trial, clock)
            finished, fresh = trial.number, False
            if outcome.state == "interrupted":
                exit_code = 130
                message = (
                    f"interrupted: trial {trial.number} marked interrupted; run the same "
                    "command again to continue the study"
                )
                break
            if outcome.state == "failed":
                failed_here += 1
            if outcome.disk_full:
                # Every later trial would fail the same way, at once: stop here.
                with contextlib.suppress(OSError):  # an empty trial folder: nothing was kept
                    (context.study_dir / trial_name(trial.number)).rmdir()
                exit_code = 1
                message = (
                    f"stopped: trial {trial.number} failed because the disk is full; free "
                    "some space and run the same command again to continue the study"
                )
                break
        if not fresh:
            trials = current_trials(context.study)
        if finished is not None:
            _report(context, trials, finished)
    except Exception as exc:
        stopped = _study_stopped(context, exc)
        if stopped is None:
            raise
        raise stopped from exc
    finally:
        progress.stop()
    try:
        summary = write_study_files(context, trials, plots=context.loaded.config.output.plots)
    except Exception as exc:
        stopped = _study_stopped(context, exc)
        if stopped is None:
            raise
        raise stopped from exc
    if exit_code == 0 and summary.best is None:
        exit_code = 1
        message = message or "no trial completed"
    summary.exit_code, summary.message = exit_code, message
    return summary


def _study_stopped(context: StudyContext, exc: Exception) -> StudyError | None:
    """``exc`` as the study's end when the study's own storage or files cannot be written (a
    full disk, a database that refuses the commit); None for any other error."""
    import optuna

    damaged = damaged_storage(context.url, exc)
    if damaged is not None:
        return StudyError(f"{damaged}. The study stopped; its trials so far are kept")
    if isinstance(exc, optuna.exceptions.StorageInternalError):
        cause = exc.__cause__ or exc.__context__
        what = f"the study storage {context.url} could not be written"
        detail = first_line(cause) if cause is not None else first_line(exc)
    elif is_disk_full(exc):
        what = f"the study folder {context.study_dir} could not be written"
        detail = first_line(exc)
    else:
        return None
    full = " (the disk is full)" if is_disk_full(exc) or "disk is full" in detail else ""
    return StudyError(
        f"{what}{full}: {detail}. The study stopped; its trials so far are kept. Free some "
        "space (or fix the storage) and run the same command again to continue the study"
    )


def _report(context: StudyContext, trials: list[FrozenTrial], number: int) -> StudySummary:
    """Write the study's files from ``trials`` and show how trial ``number`` ended."""
    summary = write_study_files(context, trials, plots=False)
    for record in trial_records(trials, numbers={number}):
        context.progress.trial_finished(record)
    return summary


def _ask(study: optuna.Study) -> optuna.trial.Trial:
    with warnings.catch_warnings():
        # We run the heartbeat ourselves (storage.Heartbeat), as Study.optimize would.
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
        return study.ask()


def _one_trial(
    context: StudyContext, trial: optuna.trial.Trial, clock: Callable[[], float]
) -> TrialOutcome:
    """Run one asked trial under its heartbeat and tell Optuna how it ended."""
    progress = context.progress
    t0 = clock()
    outcome = TrialOutcome("interrupted", reason="interrupted before training started")
    with Heartbeat(context.storage, trial_id(trial)):
        try:
            values = suggest_params(trial, context.plan.params)
            progress.trial_started(trial.number, values)
            tracking = context.tracking
            with tracking.trial() if tracking is not None else contextlib.nullcontext():
                outcome = run_trial(
                    trial,
                    context.source,
                    values,
                    metric=context.plan.metric,
                    direction=context.plan.direction,
                    study_dir=context.study_dir,
                    progress=progress.sink(trial.number),
                    command=context.command,
                    on_run_folder=progress.trial_folder,
                    seeds=_seeds(context),
                )
        except KeyboardInterrupt:
            outcome.run_dir = latest_run(context.study_dir, trial_name(trial.number))
            _tell(context, trial, outcome, clock() - t0)
            write_study_files(context, current_trials(context.study), plots=False)
            raise
        _tell(context, trial, outcome, clock() - t0)
    return outcome


def _tell(
    context: StudyContext, trial: optuna.trial.Trial, outcome: TrialOutcome, seconds: float
) -> None:
    import optuna
    from optuna.trial import TrialState

    relative = (
        str(outcome.run_dir.relative_to(context.study_dir)) if outcome.run_dir is not None else None
    )
    attrs: dict[str, Any] = {"state": outcome.state, "run_dir": relative, "reason": outcome.reason}
    if outcome.pruned_at is not None:
        attrs["pruned_at_epoch"] = outcome.pruned_at
    if outcome.test_metrics:
        attrs["test_metrics"] = outcome.test_metrics
    if outcome.seed_runs:
        attrs["seeds"] = [
            {"seed": r.seed, "run_dir": str(r.run_dir.relative_to(context.study_dir)),
             "value": r.value}
            for r in outcome.seed_runs
        ]  # fmt: skip
    try:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if outcome.state == "complete":
            context.study.tell(trial, outcome.value)
        elif outcome.state == "pruned":
            context.study.tell(trial, state=TrialState.PRUNED)
        else:
            context.study.tell(trial, state=TrialState.FAIL)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError) as exc:
        # Another process failed it as stale (no heartbeat for too long): it stays so. Optuna
        # 5.1's Study.tell says so with a plain ValueError (tests/unit/test_optuna_internals.py),
        # so a ValueError counts only when the trial really is finished in the storage.
        if isinstance(exc, ValueError) and not is_finished(context.study, trial):
            raise
    if outcome.run_dir is not None:
        params = dict(trial.params)
        _record_in_run(context, trial.number, params, outcome, seconds)
        if context.tracking is not None and outcome.state == "complete":
            # With tune.seeds, every seed's run is a child of the study: each gets the trial's
            # params and value (the mean), so runs sorted by objective keep a trial together.
            # The first seed's run comes first, so it is the one tagged when the trial is best.
            for run_dir in [r.run_dir for r in outcome.seed_runs] or [outcome.run_dir]:
                context.tracking.record(run_dir, outcome.value, params)


def _record_in_run(
    context: StudyContext,
    number: int,
    params: dict[str, Any],
    outcome: TrialOutcome,
    seconds: float,
) -> None:
    """The trial's side of the story in its ``run.json``: study, number, values, state."""
    assert outcome.run_dir is not None
    record = _tune_record(
        context,
        number,
        outcome.state,
        params,
        value=outcome.value,
        pruned_at_epoch=outcome.pruned_at,
        reason=outcome.reason,
        duration_s=round(seconds, 3),
    )
    if not outcome.seed_runs:
        RunFolder.open(outcome.run_dir).update(tune=record)
    for run in outcome.seed_runs:
        seeded = record.model_copy(update={"seed": run.seed, "seed_value": run.value})
        RunFolder.open(run.run_dir).update(tune=seeded)


def _seeds(context: StudyContext) -> int:
    tune = context.loaded.config.tune
    return tune.seeds if tune is not None else 1


def _tune_record(
    context: StudyContext,
    number: int,
    state: str,
    params: dict[str, Any],
    *,
    value: float | None = None,
    pruned_at_epoch: int | None = None,
    reason: str | None = None,
    duration_s: float | None = None,
) -> TuneRecord:
    return TuneRecord(
        study=context.study.study_name,
        study_dir=str(context.study_dir.resolve()),
        trial=number,
        state=state,
        metric=context.plan.metric,
        value=value,
        params=params,
        pruned_at_epoch=pruned_at_epoch,
        reason=reason,
        duration_s=duration_s,
    )


def _mark_lost_runs(context: StudyContext, trials: list[FrozenTrial]) -> None:
    """Run folders still saying ``running`` whose trial Optuna no longer runs: a killed
    process left them. They say ``interrupted`` now, as a Ctrl-C would have left them, and
    lose the temporary files the killed process was writing."""
    from optuna.trial import TrialState

    states = {t.number: t for t in trials}
    for manifest in sorted(context.study_dir.glob("trial-*/*/run.json")):
        number_text = manifest.parent.parent.name.removeprefix("trial-")
        if not number_text.isdigit():
            continue
        trial = states.get(int(number_text))
        if trial is None or trial.state == TrialState.RUNNING:
            continue
        folder = RunFolder.open(manifest.parent)
        if folder.manifest.status != "running":
            continue
        try:
            # As --resume takes a run over: the lock proves its writer is gone, and taking it
            # removes the temporary files the killed writer left (checkpoints/.last.*.tmp.keras).
            folder.take_lock()
        except RunFolderError:
            continue  # a live process still writes it (a trial failed as stale elsewhere)
        reason = trial.user_attrs.get("reason") or "the tuning process stopped"
        try:
            folder.update(
                status="interrupted",
                error=f"interrupted: {reason}; Optuna marked trial {trial.number} failed",
                finished_at=utc_now().isoformat(),
                tune=_tune_record(
                    context, trial.number, "failed", dict(trial.params), reason=reason
                ),
            )
        finally:
            folder.release()
