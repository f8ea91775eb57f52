"""``fit_model``: ``model.fit`` with the run's callbacks, interruption, NaN handling and resume."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import keras

from dltrain.config.schema import ExperimentConfig
from dltrain.data.pipeline import resolve_batch
from dltrain.storage import (
    BestCheckpoint,
    ResumePoint,
    RunFolder,
    latest_resume_point,
    save_resume_point,
)
from dltrain.storage.manifest import Rollback, TestCheckpoint
from dltrain.train.executions import build_optimizer, fused_executions
from dltrain.train.fine_tune import FineTunePhases
from dltrain.train.hints import learning_rate_if_known, nan_advice, rate_that_trained
from dltrain.train.monitors import ResumableEarlyStopping, ResumableReduceLROnPlateau
from dltrain.train.prepare import CallbackPlan
from dltrain.train.recorder import ProgressCallback, Recorder
from dltrain.train.signals import StopSignal, TrainingDiverged, TrainingInterrupted, Watchdog
from dltrain.train.sink import ProgressSink
from dltrain.train.steps import execution_steps

if TYPE_CHECKING:
    from dltrain.data import Datasets

__all__ = ["FitOutcome", "fit_model"]

Status = Literal["completed", "failed", "interrupted"]


@dataclass
class FitOutcome:
    """How training ended."""

    status: Status
    model: keras.Model
    epochs_completed: int
    rows: list[dict[str, float]]
    best: BestCheckpoint | None
    stopped_early: bool = False
    error: str | None = None
    train_s: float = 0.0
    first_step_s: float | None = None
    rollbacks: list[Rollback] = field(default_factory=list)
    test_metrics: dict[str, float] | None = None
    """Set by :func:`dltrain.train.train` after a completed fit."""
    test_checkpoint: TestCheckpoint | None = None


def _callbacks(
    config: ExperimentConfig, plan: CallbackPlan, run: RunFolder
) -> tuple[list[Any], ResumableEarlyStopping | None, ResumableReduceLROnPlateau | None]:
    cfg = config.callbacks
    extra: list[Any] = []
    es = rl = None
    if cfg.early_stopping is not None and plan.early_stopping is not None:
        e = cfg.early_stopping
        es = ResumableEarlyStopping(
            monitor=plan.early_stopping.monitor,
            patience=e.patience,
            min_delta=e.min_delta,
            mode=plan.early_stopping.mode,
            restore_best_weights=e.restore_best_weights,
            start_from_epoch=e.start_from_epoch,
        )
        extra.append(es)
    if cfg.reduce_lr is not None and plan.reduce_lr is not None:
        r = cfg.reduce_lr
        rl = ResumableReduceLROnPlateau(
            monitor=plan.reduce_lr.monitor,
            factor=r.factor,
            patience=r.patience,
            min_delta=r.min_delta,
            cooldown=r.cooldown,
            min_lr=r.min_lr,
            mode=plan.reduce_lr.mode,
        )
        extra.append(rl)
    if cfg.tensorboard is not None:
        extra.append(
            keras.callbacks.TensorBoard(
                log_dir=str(run.path / "tensorboard"),
                histogram_freq=cfg.tensorboard.histogram_freq,
                update_freq=cfg.tensorboard.update_freq,
            )
        )
    extra.extend(plan.extra)  # `callbacks.extra`, after the built-in ones
    return extra, es, rl


def fit_model(
    model: keras.Model,
    datasets: Datasets,
    cfg: ExperimentConfig,
    run: RunFolder,
    sink: ProgressSink,
    plan: CallbackPlan,
    *,
    resume: ResumePoint | None = None,
    rows: list[dict[str, float]] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    load_checkpoint: Callable[[Path], keras.Model] | None = None,
    extra_callbacks: Sequence[Any] = (),
) -> FitOutcome:
    """Train ``model`` on ``datasets`` as the config says, recording into ``run``.

    ``plan`` is what :func:`dltrain.train.prepare.dry_run` resolved and built for the
    callbacks; nothing is resolved or constructed again here.

    Returns a :class:`FitOutcome`; interruption and divergence are outcomes, not exceptions.
    A second Ctrl-C raises ``KeyboardInterrupt`` after the folder is left consistent.
    """
    training = cfg.training
    eval_batch = datasets.evaluation_batch("validation")
    validation = datasets.validation_dataset(eval_batch)
    extra, es, rl = _callbacks(cfg, plan, run)
    rows = list(rows or [])
    stop = StopSignal()
    start_epoch = resume.epochs_completed if resume else 0
    watchdog = Watchdog(
        stop,
        check_nan=cfg.callbacks.terminate_on_nan or training.on_nan == "rollback",
        clock=clock,
    )
    recorder = Recorder(
        run,
        sink,
        monitor=plan.checkpoint.monitor,
        mode=plan.checkpoint.mode,
        rows=rows,
        early_stopping=es,
        reduce_lr=rl,
        resume=resume,
    )
    callbacks = [watchdog, ProgressCallback(sink), *extra, *extra_callbacks, recorder]
    class_weight = _class_weight(training.class_weight, datasets)
    outcome = FitOutcome("completed", model, start_epoch, rows, recorder.best)
    started = clock()
    epoch = start_epoch
    phases = FineTunePhases(cfg)
    batch_size = resolve_batch(training.batch_size, datasets.train_size)
    distributed = cfg.distribute.strategy != "default"
    if training.on_nan == "rollback" and latest_resume_point(run.checkpoints) is None:
        # A divergence in the first epoch can then roll back to the initial weights.
        recorder.set_model(model)
        save_resume_point(run.checkpoints, model, 0, recorder.initial_state())
    stop.install()
    try:
        while True:
            switched = phases.switch_if_due(model, epoch, datasets.spec, outcome.rollbacks)
            if switched is not None:
                run.update(fine_tune=switched)
                sink.message(
                    f"epoch {epoch + 1}: fine-tuning: {switched.unfrozen_layers} layers "
                    f"unfrozen, learning rate {switched.learning_rate:g}"
                )
            end = phases.fit_until(epoch)
            train_ds, steps = datasets.train_dataset(
                training.batch_size,
                seed=cfg.seed,
                start_epoch=epoch,
                epochs=training.epochs,
                shuffle=training.shuffle,
            )
            sink.start(epochs=training.epochs, start_epoch=epoch, steps=steps)
            # Set on every pass: a rollback loads a model compiled with the configured value.
            model.steps_per_execution = execution_steps(steps, _steps_per_execution(cfg))
            if run.manifest.steps_per_execution != model.steps_per_execution:
                run.update(steps_per_execution=model.steps_per_execution)
            build_optimizer(model, distributed=distributed)
            try:
                if epoch < training.epochs:
                    with fused_executions(
                        model,
                        train_ds,
                        distributed=distributed,
                        batch=batch_size,
                        smaller_last_batch=datasets.train_size % batch_size != 0,
                    ) as one_program:
                        if run.manifest.fused_executions != one_program:
                            run.update(fused_executions=one_program)
                        model.fit(
                            train_ds,
                            epochs=end,
                            initial_epoch=epoch,
                            steps_per_epoch=steps,
                            validation_data=validation,
                            callbacks=callbacks,
                            verbose=0,
                            class_weight=class_weight,
                            # The pipeline already shuffles, seeded per epoch (exact resume).
                            shuffle=False,
                        )
                if end < training.epochs and rows and int(rows[-1]["epoch"]) == end:
                    # Phase 1 is done: phase 2 goes on from its last resume point, exactly as
                    # a run resumed there would (early stopping's state, the layers' RNG).
                    point = latest_resume_point(run.checkpoints)
                    assert point is not None and point.epochs_completed == end
                    if es is not None and es.restore_best_weights:
                        model.load_weights(point.model_path)  # the last epoch's, not the best
                    recorder.resume = point
                    epoch = end
                    continue
                break
            except TrainingDiverged as exc:
                point = latest_resume_point(run.checkpoints)
                can_roll = (
                    training.on_nan == "rollback"
                    and len(outcome.rollbacks) < training.max_rollbacks
                    and point is not None
                    and load_checkpoint is not None
                )
                if not can_roll:
                    outcome.status = "failed"
                    rate, done = learning_rate_if_known(model), len(outcome.rollbacks)
                    trained = rate_that_trained(outcome.rollbacks, exc.epoch + 1)
                    advice = nan_advice(
                        training.on_nan, done, training.max_rollbacks, rate, trained
                    )
                    outcome.error = f"{exc}; {advice}"
                    break
                assert point is not None and load_checkpoint is not None
                reloaded = load_checkpoint(point.model_path)
                reloaded.jit_compile = model.jit_compile  # the run's choice, not the file's
                model = reloaded
                lr = point.state.learning_rate * training.rollback_factor
                model.optimizer.learning_rate = lr
                outcome.rollbacks.append(
                    Rollback(
                        at_epoch=exc.epoch + 1,
                        at_batch=exc.batch + 1,
                        resumed_from_epoch=point.epochs_completed,
                        learning_rate=lr,
                    )
                )
                run.update(rollbacks=outcome.rollbacks)
                sink.message(
                    f"{exc}: rolled back to epoch {point.epochs_completed}, learning rate {lr:g}"
                )
                del rows[point.epochs_completed :]
                epoch = point.epochs_completed
                watchdog.diverged = None
                recorder.resume = point
            except TrainingInterrupted as exc:
                outcome.status = "interrupted"
                outcome.error = f"{stop.signal_name or 'signal'}: {exc}"
                break
        if stop.event.is_set() and outcome.status == "completed":
            # The signal came after the last batch (validation, the last epoch's files): no
            # batch boundary read it. Stop as outside training; --resume does the rest.
            raise KeyboardInterrupt(f"stopped by {stop.signal_name or 'a signal'}")
    except KeyboardInterrupt as exc:
        outcome.status = "interrupted"
        outcome.error = str(exc) or "interrupted twice: stopped at once"
        raise
    finally:
        stop.uninstall()
        sink.stop()
        outcome.model = model
        outcome.train_s = clock() - started
        outcome.best = recorder.best
        outcome.epochs_completed = int(rows[-1]["epoch"]) if rows else start_epoch
        if watchdog.first_step_at is not None:
            outcome.first_step_s = watchdog.first_step_at
        if es is not None and es.stopped_epoch > 0:
            outcome.stopped_early = True
        if (
            outcome.status == "completed"
            and rows
            and not all(math.isfinite(v) for v in rows[-1].values())
        ):
            outcome.status = "failed"
            # The last epoch completed with non-finite metrics: it is the one that failed.
            trained = rate_that_trained(outcome.rollbacks, outcome.epochs_completed)
            rate = learning_rate_if_known(model)
            advice = nan_advice(training.on_nan, 0, 0, rate, trained)
            outcome.error = f"the last epoch's metrics are not finite; {advice}"
    return outcome


def _steps_per_execution(cfg: ExperimentConfig) -> int:
    # Multi-worker runs too: dltrain.train.distributed runs their executions as a plain loop.
    return int(cfg.training.steps_per_execution)


def _class_weight(setting: Any, datasets: Datasets) -> dict[int, float] | None:
    if setting is None:
        return None
    if setting != "balanced":
        return {int(k): float(v) for k, v in setting.items()}
    counts = datasets.train_class_counts()
    total = sum(counts.values())
    return {int(k): total / (len(counts) * c) for k, c in counts.items() if c}
