"""``run_experiment`` / ``resume_experiment``: config -> data -> model -> train -> report.

This module only orchestrates: each stage has one entry point and the run folder's storage
sits below them. A new run and a resumed one go through the same :func:`_execute`.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.config import LoadedConfig, load_config
from dltrain.config.precision import recorded_policy
from dltrain.engine.adversarial import attach_adversarial, check_adversarial
from dltrain.engine.distill import attach_teacher, check_conflicts
from dltrain.engine.init_from import initialize_from
from dltrain.storage import BestCheckpoint, RunFolder, utc_now
from dltrain.storage.writing import creating, writing
from dltrain.tracking import check_tracking, tracked_run

if TYPE_CHECKING:
    from dltrain.train import FitOutcome, Prepared, ResumePlan
    from dltrain.train.prepare import CallbackPlan
    from dltrain.train.sink import ProgressSink

__all__ = ["RunResult", "resume_experiment", "run_experiment"]

_EXIT = {"completed": 0, "failed": 1, "interrupted": 130}


@dataclass
class RunResult:
    """What a run produced."""

    run_dir: Path
    status: str
    exit_code: int
    epochs_completed: int
    test_metrics: dict[str, float] = field(default_factory=dict)
    final_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    best: BestCheckpoint | None = None
    message: str | None = None
    stopped_early: bool = False
    rows: list[dict[str, float]] = field(default_factory=list)
    """Every epoch's logged values, as ``metrics.csv`` holds them (a tuner reads its value)."""


def run_experiment(
    config: Path | str | LoadedConfig,
    overrides: Sequence[str] = (),
    *,
    name: str | None = None,
    runs_dir: Path | None = None,
    progress: ProgressSink | None = None,
    command: Sequence[str] | None = None,
    clock: Callable[[], datetime] = utc_now,
    callbacks: Sequence[Any] = (),
    on_run_folder: Callable[[Path], None] | None = None,
) -> RunResult:
    """Train from a config file (or loaded config) and write a run folder.

    ``name`` is one more override (``name=...``), so the run keeps every file:line and the
    ``--set`` values. ``callbacks`` are extra Keras callbacks (a tuner's pruning callback),
    run after the built-in ones and before the epoch recorder. ``on_run_folder`` is called
    with the folder as soon as it exists (the CLI moves its log files there).

    Raises:
        ConfigError, DataError: bad config or data (nothing is written).
        RunFolderError: the runs folder is not writable.
    """
    started = time.perf_counter()
    more = [*overrides, *([f"name={name}"] if name is not None else [])]
    if isinstance(config, LoadedConfig):
        loaded = config.with_overrides(more)
    else:
        loaded = load_config(Path(config), more)
    cfg = loaded.config
    check_tracking(loaded)
    check_conflicts(loaded)
    check_adversarial(loaded)
    # TensorFlow is imported only once the config is known to be valid.
    from dltrain.report import record_start
    from dltrain.train.distributed import worker_scratch
    from dltrain.train.prepare import dry_run, prepare

    with worker_scratch(cfg.distribute.strategy) as scratch:
        root = scratch or Path(runs_dir or cfg.output.runs_dir or "runs")
        RunFolder.check_root(root)
        prepared = prepare(loaded)
        with prepared.session():
            init = initialize_from(loaded, prepared.model)
            student = prepared.model
            distill = attach_teacher(loaded, prepared)
            adversarial = attach_adversarial(loaded, prepared)
            plan = dry_run(loaded, prepared)
            with creating(lambda: RunFolder.create(root, cfg.name, clock)) as run:
                if on_run_folder is not None:
                    on_run_folder(run.path)
                record_start(
                    run,
                    loaded,
                    student,
                    prepared.datasets,
                    command,
                    clock,
                    prepared.jit,
                    prepared.precision,
                )
                run.update(workers=_workers(cfg.distribute.strategy))
                run.update(methodology=[f.to_json() for f in plan.findings])
                if init is not None:
                    run.update(init_from=init)
                if distill is not None:
                    run.update(distill=distill)
                if adversarial is not None:
                    run.update(adversarial=adversarial)
                return _execute(loaded, prepared, plan, run, progress, started, callbacks=callbacks)


def resume_experiment(
    run_dir: Path,
    overrides: Sequence[str] = (),
    *,
    force: bool = False,
    progress: ProgressSink | None = None,
    command: Sequence[str] | None = None,
    callbacks: Sequence[Any] = (),
    on_run_folder: Callable[[Path], None] | None = None,
    trust_imports: bool = False,
) -> RunResult:
    """Continue an interrupted (or, with more epochs, a finished) run in its own folder.

    ``trust_imports``: the run's plugins may be imported from where it recorded them, once
    their code matches the recorded SHA-256 (``--trust-imports``, docs/extending.md).

    Raises:
        CheckpointError: the folder is not a readable run.
        UsageError: the config would change (without ``force``) or there is nothing to do; a
            plugin that needs ``trust_imports`` or is not the code the run recorded.
    """
    started = time.perf_counter()
    # The folder, the lock and the config are checked before TensorFlow is imported, so a
    # refused resume (locked, finished, damaged, drifted) answers at once.
    from dltrain.train.distributed import follows_chief
    from dltrain.train.resume import plan_resume

    run = RunFolder.open(run_dir)
    if follows_chief(run.manifest.distribute):
        return _follow(run, overrides, force, progress, command, started, callbacks, trust_imports)
    run.take_lock()  # one writer; also clears what a killed one left behind
    with writing(run):
        plan = plan_resume(run, overrides, force=force, trust_imports=trust_imports)
        check_tracking(plan.loaded, run)
        if on_run_folder is not None:
            on_run_folder(run.path)
        from dltrain.train import record_resume
        from dltrain.train.prepare import dry_run, prepare
        from dltrain.train.resume import apply_changes

        point = plan.point
        prepared = prepare(
            plan.loaded,
            model_path=point.model_path if point else None,
            recorded_policy=recorded_policy(run.manifest.precision),
        )
        with prepared.session():
            if point is None:  # no epoch finished: start again from the same weights
                initialize_from(plan.loaded, prepared.model)
            attach_teacher(plan.loaded, prepared, recorded=run.manifest.distill)
            attach_adversarial(plan.loaded, prepared)
            apply_changes(prepared.model, plan)
            callback_plan = dry_run(plan.loaded, prepared)
            record_resume(run, plan, command)
            *before, this = run.manifest.resumes
            facts = {
                "workers": _workers(plan.loaded.config.distribute.strategy),
                "onednn": _onednn_since(run, plan.notes),
            }
            run.update(resumes=[*before, this.model_copy(update=facts)])
            run.update(jit_compile=prepared.jit.to_json())
            return _execute(
                plan.loaded,
                prepared,
                callback_plan,
                run,
                progress,
                started,
                resume=plan,
                callbacks=callbacks,
            )


def _onednn_since(run: RunFolder, notes: list[str]) -> bool | None:
    """Whether TensorFlow's oneDNN kernels run this resume; a note when the run started
    with the other kernels (its epochs from here are then not bit-identical)."""
    from dltrain.report.provenance import tensorflow_onednn

    now = tensorflow_onednn()
    then = (run.manifest.platform or {}).get("onednn")
    if now is not None and then is not None and now != then:
        said = {True: "on", False: "off"}
        notes.append(
            f"TensorFlow's oneDNN kernels were {said[then]} when the run started and are "
            f"{said[now]} now (TF_ENABLE_ONEDNN_OPTS): the epochs from here will differ in "
            "the last digits from an uninterrupted run"
        )
    return now


def _workers(strategy: str) -> int:
    """How many processes train the run: the ``TF_CONFIG`` cluster's size, else one."""
    if strategy != "multi_worker_mirrored":
        return 1
    from dltrain.train.distributed import worker_role

    return worker_role().workers


def _follow(
    chief_run: RunFolder,
    overrides: Sequence[str],
    force: bool,
    progress: ProgressSink | None,
    command: Sequence[str] | None,
    started: float,
    callbacks: Sequence[Any],
    trust_imports: bool,
) -> RunResult:
    """A non-chief worker's ``--resume``: the chief's resume point, a private run folder.

    Every worker must restore the same weights, optimizer state and epoch, so this one reads
    the chief's run folder (never writing it) and records into a temporary folder, as a
    non-chief worker of a new run does.
    """
    from dltrain.report import record_start
    from dltrain.train import plan_resume
    from dltrain.train.distributed import worker_scratch
    from dltrain.train.prepare import dry_run, prepare
    from dltrain.train.resume import apply_changes

    plan = plan_resume(
        chief_run, overrides, force=force, follower=True, trust_imports=trust_imports
    )
    point = plan.point
    with worker_scratch("multi_worker_mirrored") as scratch:
        assert scratch is not None  # follows_chief: this is not the chief
        prepared = prepare(
            plan.loaded,
            model_path=point.model_path if point else None,
            recorded_policy=recorded_policy(chief_run.manifest.precision),
        )
        with prepared.session():
            if point is None:
                initialize_from(plan.loaded, prepared.model)
            apply_changes(prepared.model, plan)
            callback_plan = dry_run(plan.loaded, prepared)
            run = RunFolder.create(scratch, plan.loaded.config.name)
            record_start(
                run,
                plan.loaded,
                prepared.model,
                prepared.datasets,
                command,
                utc_now,
                prepared.jit,
                prepared.precision,
            )
            return _execute(
                plan.loaded,
                prepared,
                callback_plan,
                run,
                progress,
                started,
                resume=plan,
                callbacks=callbacks,
            )


def _execute(
    loaded: LoadedConfig,
    prepared: Prepared,
    plan: CallbackPlan,
    run: RunFolder,
    progress: ProgressSink | None,
    started: float,
    *,
    resume: ResumePlan | None = None,
    callbacks: Sequence[Any] = (),
) -> RunResult:
    """Train and report into ``run``, whichever way training ends.

    ``plan`` is what :func:`dltrain.train.dry_run` resolved and built for the callbacks.
    """
    from dltrain.report import write_report
    from dltrain.train import train
    from dltrain.train.sink import NullProgress

    sink = progress or NullProgress()
    for warning in prepared.datasets.warnings:
        sink.message(f"warning: {warning}")  # also kept in run.json under data.warnings
    for finding in plan.findings:  # also kept in run.json under methodology
        sink.message(f"warning: methodology ({finding.check}): {finding.message}")
    for note in resume.notes if resume else []:
        sink.message(f"resume: {note}")
    # MLflow, when asked for: logs each epoch, then uploads the folder and mirrors its status.
    with tracked_run(loaded, run, sink) as tracking:
        outcome = train(
            loaded.config,
            prepared,
            run,
            sink,
            plan,
            resume=resume.point if resume else None,
            rows=resume.rows if resume else None,
            callbacks=[*callbacks, *tracking],
        )
        write_report(run, loaded, outcome, prepared.datasets, started)
    return _result(run, outcome)


def _result(run: RunFolder, outcome: FitOutcome) -> RunResult:
    message = None
    if outcome.status == "interrupted":
        where = shlex.quote(str(run.path))
        message = f"{outcome.error}. Resume with: dltrain run --resume {where}"
    elif outcome.status == "failed":
        message = f"training failed: {outcome.error}"
    return RunResult(
        run.path,
        outcome.status,
        _EXIT[outcome.status],
        outcome.epochs_completed,
        test_metrics=outcome.test_metrics or {},
        final_metrics=run.manifest.final_metrics,
        best=outcome.best,
        message=message,
        stopped_early=outcome.stopped_early,
        rows=list(outcome.rows),
    )
