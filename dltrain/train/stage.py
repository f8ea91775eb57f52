"""``train``: the train stage's entry point (fit with callbacks, then evaluate on test)."""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dltrain.config.schema import ExperimentConfig
from dltrain.errors import DataError, DltrainError, TrainingError, first_line
from dltrain.storage import ResumePoint, RunFolder, atomic_write, utc_now
from dltrain.storage.manifest import TestCheckpoint
from dltrain.train.loop import FitOutcome, fit_model
from dltrain.train.prepare import CallbackPlan, Prepared
from dltrain.train.sink import ProgressSink

__all__ = ["failure_reason", "train"]


def failure_reason(exc: BaseException) -> str:
    """The line of a TensorFlow/Keras error that says what went wrong.

    Graph errors start with "Graph execution error:" and the Python stack that defined the
    failing op; the reason is the first line after that stack.
    """
    noise = ("Graph execution error", "Detected at node", "File ", "[[", "The above")
    for line in str(exc).splitlines():
        text = line.strip()
        if text and not line.startswith((" ", "\t")) and not text.startswith(noise):
            return text
    return first_line(exc, empty="no message")


def train(
    cfg: ExperimentConfig,
    prepared: Prepared,
    run: RunFolder,
    sink: ProgressSink,
    plan: CallbackPlan,
    *,
    resume: ResumePoint | None = None,
    rows: list[dict[str, float]] | None = None,
    callbacks: Sequence[Any] = (),
) -> FitOutcome:
    """Train as the config says, recording each epoch into ``run``; then test the best model.

    ``plan`` is what :func:`dltrain.train.prepare.dry_run` returned for this run.
    A completed fit is evaluated on the test split with the best checkpoint's weights; an
    interrupted one saves its weights as ``checkpoints/last.keras`` for ``--resume``.

    Raises:
        TrainingError: Keras or TensorFlow failed mid-training (``run.json`` says why).
        DltrainError: a problem found while training (recorded as the run's error too).
    """
    from dltrain.model import load_model_file
    from dltrain.train.distill import student_of

    rewrap = prepared.rewrap
    load: Callable[[Path], Any] = (
        load_model_file if rewrap is None else (lambda path: rewrap(load_model_file(path)))
    )
    try:
        outcome = fit_model(
            prepared.model,
            prepared.datasets,
            cfg,
            run,
            sink,
            plan,
            resume=resume,
            rows=rows,
            load_checkpoint=load,
            extra_callbacks=callbacks,
        )
    except DltrainError as exc:
        run.update(status="failed", error=exc.render(), finished_at=utc_now().isoformat())
        raise
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # an expected fault: dltrain.storage.writing says so and keeps the run resumable
        _raise_if_files_changed(prepared, run, exc, "--resume once they are back")
        # Keras/TensorFlow failed mid-training: the run keeps what it wrote and says why.
        message = f"{type(exc).__name__}: {failure_reason(exc)}"
        run.update(status="failed", error=message, finished_at=utc_now().isoformat())
        raise TrainingError(f"training failed: {message} (run folder: {run.path})") from exc
    # A distiller's files and results are its student's (its ``save`` writes the student).
    outcome.model = student_of(outcome.model)
    if outcome.status == "completed":
        try:
            _test(outcome, prepared, run)
        except DltrainError:
            raise
        except Exception as exc:
            _raise_if_files_changed(prepared, run, exc, "the test split")
            raise
    elif outcome.status == "interrupted":
        atomic_write(run.checkpoints / "last.keras", outcome.model.save)
    return outcome


def _raise_if_files_changed(
    prepared: Prepared, run: RunFolder, exc: BaseException, note: str
) -> None:
    """When the pipeline failed on a streamed folder, raise a :class:`DataError` naming the
    files that no longer read (``FileSource.changed_files``), and record it in ``run.json``;
    return when the data is not streamed or every file still reads.

    Raises:
        DataError: files changed since the check before training (``note`` ends the message).
    """
    from dltrain.data.folders.stream import FileSource

    source = prepared.datasets.source
    changed = source.changed_files() if isinstance(source, FileSource) else None
    if changed is None:
        return
    error = DataError(f"{changed}\n(run folder: {run.path}; {note})")
    run.update(status="failed", error=error.render(), finished_at=utc_now().isoformat())
    raise error from exc


def _test(outcome: FitOutcome, prepared: Prepared, run: RunFolder) -> None:
    """Evaluate on test with the best checkpoint's weights (they are the run's result)."""
    best_path = run.checkpoints / "best.keras"
    if best_path.is_file():
        outcome.model.load_weights(best_path)
        best = outcome.best.model_dump() if outcome.best else {}
        outcome.test_checkpoint = TestCheckpoint(file="checkpoints/best.keras", **best)
    datasets = prepared.datasets
    test = datasets.test_dataset(datasets.evaluation_batch("test"))
    logs = outcome.model.evaluate(test, return_dict=True, verbose=0)
    outcome.test_metrics = {k: float(v) for k, v in logs.items()}
