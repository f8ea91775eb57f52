"""The report stage: the files a run writes before training and its final report after."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.config import LoadedConfig
from dltrain.errors import DiskFullError
from dltrain.storage import RunFolder, utc_now
from dltrain.storage.manifest import (
    DataFacts,
    TargetEvaluation,
    config_text_digest,
    split_metrics,
)

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from dltrain.config.precision import PrecisionChoice
    from dltrain.data import Datasets
    from dltrain.model.jit import JitChoice
    from dltrain.report.evaluation import ValidationScores
    from dltrain.train import FitOutcome

__all__ = ["record_start", "write_report"]


def record_start(
    run: RunFolder,
    loaded: LoadedConfig,
    model: keras.Model,
    datasets: Datasets,
    command: Sequence[str] | None,
    clock: Callable[[], datetime],
    jit: JitChoice | None = None,
    precision: PrecisionChoice | None = None,
) -> None:
    """Write config.yaml, model.txt, data_spec.json and the starting ``run.json``."""
    from dltrain.model import summarize_model
    from dltrain.report.provenance import environment_facts, git_commit

    config_text = loaded.to_yaml()
    run.write_text("config.yaml", config_text)
    summary = summarize_model(model)
    run.write_text("model.txt", summary.to_text())
    run.write_text("data_spec.json", datasets.spec.to_json())
    cfg = loaded.config
    where = loaded.path.parent if loaded.path else Path.cwd()
    run.update(
        name=cfg.name,
        status="running",
        command=list(command) if command else None,
        config_file=str(loaded.path) if loaded.path else None,
        config_files=[str(p) for p in loaded.files],
        overrides=loaded.overrides,
        # Plugin modules, so eval/predict/--resume can import them again (docs/extending.md).
        imports=[module.to_json() for module in loaded.imports],
        config_hash=loaded.digest(),
        config_sha256=config_text_digest(config_text),
        seed=cfg.seed,
        deterministic=cfg.deterministic,
        precision=precision.to_json() if precision is not None else cfg.precision,
        distribute=cfg.distribute.strategy,
        jit_compile=jit.to_json() if jit is not None else None,
        started_at=clock().isoformat(),
        epochs_planned=cfg.training.epochs,
        epochs_completed=0,
        batch_size=datasets.batch_size,
        parameters={"total": summary.total_params, "trainable": summary.trainable_params},
        data=DataFacts(
            train_size=datasets.train_size,
            validation_size=datasets.validation_size,
            test_size=datasets.test_size,
            fingerprint=datasets.fingerprint,
            warnings=list(datasets.warnings),
        ),
        git=git_commit(where),
        pid=os.getpid(),
        **environment_facts(),
    )


def write_report(
    run: RunFolder,
    loaded: LoadedConfig,
    outcome: FitOutcome,
    datasets: Datasets,
    started: float,
) -> None:
    """Plots and the final manifest of a run whose training ended (any way but a crash).

    Args:
        run: The run folder.
        loaded: The config (``output.plots`` decides whether plots are drawn).
        outcome: What :func:`dltrain.train.train` returned.
        datasets: The run's data (test predictions for confusion matrix / residuals).
        started: ``time.perf_counter()`` when this command started (for ``timings``).
    """
    evaluations: dict[str, TargetEvaluation] = {}
    try:
        if loaded.config.output.plots and outcome.rows:
            if outcome.test_metrics is not None:
                evaluations = _result_plots(run, outcome, datasets)
            else:
                from dltrain.report.plots import write_training_plots

                write_training_plots(run.plots, outcome.rows, _loss_note(datasets))
    except (OSError, DiskFullError):
        # The disk filled up under the plots: the test metrics are computed already, so keep
        # them beside the failure that dltrain.storage.writing records (if the disk allows).
        if outcome.test_metrics is not None:
            with contextlib.suppress(OSError):
                final_so_far = {**run.manifest.final_metrics, "test": outcome.test_metrics}
                run.update(final_metrics=final_so_far)
        raise
    timings = dict(run.manifest.timings)
    timings["train_s"] = round(timings.get("train_s", 0.0) + outcome.train_s, 3)
    if outcome.first_step_s is not None and "time_to_first_step_s" not in timings:
        timings["time_to_first_step_s"] = round(outcome.first_step_s - started, 3)
        age = _process_age()
        if age is not None:
            # From the process's start, interpreter and imports included (docs/benchmarks.md).
            since_first = time.perf_counter() - outcome.first_step_s
            timings["process_start_to_first_step_s"] = round(age - since_first, 3)
    timings["total_s"] = round(timings.get("total_s", 0.0) + time.perf_counter() - started, 3)
    final = dict(run.manifest.final_metrics)
    fields: dict[str, Any] = {}
    if evaluations:
        fields["evaluation"] = evaluations
    if outcome.test_metrics is not None:
        final["test"] = outcome.test_metrics
    if outcome.test_checkpoint is not None:
        epoch = outcome.test_checkpoint.epoch
        best_row = next((r for r in outcome.rows if r["epoch"] == epoch), None)
        # The test metrics come from this epoch's weights, not the last epoch's.
        fields.update(
            test_checkpoint=outcome.test_checkpoint,
            best_epoch_metrics=split_metrics(best_row) if best_row else None,
        )
    run.update(
        **fields,
        status=outcome.status,
        error=outcome.error,
        stopped_early=outcome.stopped_early,
        epochs_completed=outcome.epochs_completed,
        final_metrics=final,
        best=outcome.best,
        timings=timings,
        finished_at=utc_now().isoformat(),
    )


def _result_plots(
    run: RunFolder, outcome: FitOutcome, datasets: Datasets
) -> dict[str, TargetEvaluation]:
    """Training curves, and per target its evaluation report on test (confusion matrix,
    per-class table, calibration, ROC and threshold; or regression plots and errors)."""
    import numpy as np

    from dltrain.report.evaluation import predict_outputs, report_target
    from dltrain.report.plots import epoch_marks, result_caption, write_training_plots

    chosen = outcome.test_checkpoint
    stopped = outcome.epochs_completed if outcome.stopped_early else None
    marks = epoch_marks(chosen.epoch if chosen else None, stopped)
    write_training_plots(run.plots, outcome.rows, _loss_note(datasets), marks)
    test_ds: tf.data.Dataset = datasets.test_dataset(datasets.evaluation_batch("test"))
    caption = result_caption(chosen.epoch if chosen else None, outcome.rows)
    outputs = predict_outputs(outcome.model, test_ds)
    targets = datasets.spec.targets
    truths = datasets.test_targets()
    if len(targets) == 1 and truths:
        _worst_examples(run, datasets, test_ds, truths[0], np.asarray(outputs[0]), caption)
    validation = _validation_scores(outcome.model, datasets)
    regression = any(t.task == "regression" for t in targets)
    columns = _numeric_columns(datasets, test_ds) if regression else {}
    evaluations: dict[str, TargetEvaluation] = {}
    for index, (target, truth, pred) in enumerate(zip(targets, truths, outputs, strict=False)):
        evaluations[target.name] = report_target(
            run.plots,
            target,
            truth,
            np.asarray(pred),
            suffix="" if len(targets) == 1 else f"_{target.name}",
            caption=caption,
            checkpoint_epoch=chosen.epoch if chosen else None,
            validation=validation.get(index),
            columns=columns,
        )
    return evaluations


def _validation_scores(model: keras.Model, datasets: Datasets) -> dict[int, ValidationScores]:
    """Binary targets' validation scores by target index, for the decision threshold: one
    more prediction pass, over validation, only when a target is binary."""
    import numpy as np

    from dltrain.report.evaluation import ValidationScores, predict_outputs

    binary = [i for i, t in enumerate(datasets.spec.targets) if t.task == "binary"]
    split = datasets.validation_split
    if not binary or split is None:
        return {}
    dataset = datasets.validation_dataset(datasets.evaluation_batch("validation"))
    if dataset is None:
        return {}
    outputs = predict_outputs(model, dataset)
    truths = datasets.split_targets("validation")
    return {
        i: ValidationScores(split, np.asarray(truths[i]), np.asarray(outputs[i]).reshape(-1))
        for i in binary
    }


def _numeric_columns(datasets: Datasets, test_ds: tf.data.Dataset) -> dict[str, Any]:
    """A CSV run's numeric test columns by name (file order), for residuals by feature."""
    import numpy as np

    wanted = {
        i.name: i.columns
        for i in datasets.spec.raw_inputs
        if datasets.spec.kind == "csv" and i.columns and i.dtype != "string"
    }
    if not wanted:
        return {}
    parts: dict[str, list[Any]] = {name: [] for name in wanted}
    for x, _ in test_ds:
        batch = x if isinstance(x, dict) else {next(iter(wanted)): x}
        for name in wanted:
            parts[name].append(np.asarray(batch[name], dtype=np.float64))
    columns: dict[str, Any] = {}
    for name, names in wanted.items():
        values = np.concatenate(parts[name]).reshape(-1, len(names))
        columns.update({column: values[:, k] for k, column in enumerate(names)})
    return columns


def _worst_examples(
    run: RunFolder,
    datasets: Datasets,
    test_ds: tf.data.Dataset,
    truth: Any,
    pred: Any,
    caption: str,
) -> None:
    """``plots/examples.json``: the test examples the run got most wrong, with their inputs
    (images as PNGs), for ``dltrain report``'s gallery."""
    import numpy as np

    from dltrain.report.examples import worst_examples, write_examples

    target = datasets.spec.targets[0]
    rows = worst_examples(truth, pred, target.task)
    wanted = {row["index"] for row in rows}
    inputs: dict[int, Any] = {}
    offset = 0
    # One more pass over the test inputs (file order, as predict saw them), stopping once the
    # last wanted example has gone by.
    for x, _ in test_ds:
        if not wanted or offset > max(wanted):
            break
        if isinstance(x, dict):
            parts = dict(x)
        elif isinstance(x, list | tuple):
            parts = {f"input_{i}": part for i, part in enumerate(x)}
        else:
            parts = {"input": x}
        batch = {name: np.asarray(part) for name, part in parts.items()}
        size = len(next(iter(batch.values())))
        for index in wanted & set(range(offset, offset + size)):
            inputs[index] = {name: part[index - offset] for name, part in batch.items()}
        offset += size
    columns = {i.name: list(i.columns) for i in datasets.spec.raw_inputs if i.columns}
    write_examples(run.plots, rows, inputs, target.class_names, caption, columns=columns)


def _loss_note(datasets: Datasets) -> str | None:
    """``scaled target`` when ``data.target_scaling`` scales a target (the loss's units)."""
    if any(t.scale is not None for t in datasets.spec.targets):
        return "scaled target"
    return None


def _process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``, 10 ms resolution), else ``None``."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime, in clock ticks
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
