"""One target's evaluation report from its predictions: the files in ``plots/`` and the
``run.json`` record (:class:`TargetEvaluation`). NumPy and matplotlib; the predictions are
made by the caller (one pass over test, and for a binary target one over validation).

Classification: ``confusion_matrix*.png/.json``, ``classification_report*.csv`` and
``calibration*.png/.json``; binary targets add ``roc_pr*.json/.png`` and the decision
threshold chosen on validation. Regression: R², MAE, RMSE, the predicted-vs-true and residual
plots, and for CSV runs ``residuals_by_feature*.png/.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.data.pipeline import plain_function
from dltrain.data.spec import TargetInfo
from dltrain.storage.manifest import CalibrationRecord, TargetEvaluation, ThresholdRecord

__all__ = [
    "ValidationScores",
    "class_predictions",
    "logit_outputs",
    "logits_to_probabilities",
    "output_probabilities",
    "predict_outputs",
    "report_target",
]


@dataclass(frozen=True)
class ValidationScores:
    """A binary target's labels and positive-class probabilities on the split the threshold
    is chosen on."""

    split: str
    truth: np.ndarray
    scores: np.ndarray


def predict_outputs(model: Any, dataset: Any) -> list[np.ndarray]:
    """A Keras model's outputs over a ``(x, y)`` dataset's inputs, one array per output;
    probabilities where the output gives logits (:func:`output_probabilities`)."""
    predictions = model.predict(dataset.map(plain_function(lambda x, y: x)), verbose=0)
    return output_probabilities(model, predictions)


def output_probabilities(model: Any, predictions: Any) -> list[np.ndarray]:
    """``model.predict``'s result as one array per output, an output trained on logits (its
    loss compiled with ``from_logits: true``) turned into probabilities: the sigmoid of one
    unit, the softmax of several. Reports, thresholds, calibration and ``predict``'s
    ``_probability`` columns then read probabilities whichever way the model was written."""
    outputs = predictions if isinstance(predictions, list | tuple) else [predictions]
    arrays = [np.asarray(output) for output in outputs]
    logits = logit_outputs(model)
    if len(logits) != len(arrays):
        return arrays
    return [
        logits_to_probabilities(a) if flag else a for a, flag in zip(arrays, logits, strict=True)
    ]


def logit_outputs(model: Any) -> list[bool]:
    """Per output, whether it gives logits: its loss takes ``from_logits=True`` and its layer
    applies no ``sigmoid`` or ``softmax`` (with one, the outputs are probabilities already,
    and the methodology check warns that the loss applies it twice)."""
    from dltrain.model.compile import output_losses
    from dltrain.train.methodology import loss_identity, output_activation

    model = getattr(model, "dltrain_student", model)
    return [
        loss is not None
        and loss_identity(loss)[1]
        and output_activation(model, name) not in ("sigmoid", "softmax")
        for name, loss in output_losses(model)
    ]


def logits_to_probabilities(logits: np.ndarray) -> np.ndarray:
    """Sigmoid of a one-unit output, softmax over the last axis of a wider one (float32)."""
    values = logits.astype(np.float64)
    if values.ndim < 2 or values.shape[-1] == 1:
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * values)), dtype=np.float32)  # sigmoid
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True), dtype=np.float32)


def class_predictions(target: TargetInfo, outputs: np.ndarray) -> np.ndarray:
    """Class indices from a classification output: above 0.5 (binary) or the argmax."""
    pred = np.asarray(outputs)
    if target.task == "binary":
        return (pred.reshape(-1) > 0.5).astype(np.int64)
    indices: np.ndarray = pred.reshape(len(pred), -1).argmax(axis=1)
    return indices


def report_target(
    plots_dir: Path,
    target: TargetInfo,
    truth: np.ndarray,
    outputs: np.ndarray,
    *,
    suffix: str = "",
    caption: str = "",
    checkpoint_epoch: int | None = None,
    validation: ValidationScores | None = None,
    columns: Mapping[str, np.ndarray] | None = None,
) -> TargetEvaluation:
    """Write one target's test report into ``plots_dir`` and return its record.

    Args:
        plots_dir: The run's ``plots/``.
        target: The target (its task and class names).
        truth: Test labels (class indices) or values.
        outputs: The model's test outputs for the target.
        suffix: ``_<target>`` for runs with several targets, else empty.
        caption: Which split and checkpoint, for the titles.
        checkpoint_epoch: Recorded with the numbers.
        validation: A binary target's validation scores, for the threshold.
        columns: A CSV run's numeric test columns by name, for the residuals by feature.

    Raises:
        DiskFullError: the disk is full.
        RunFolderError: a file cannot be written.
    """
    from dltrain.report.plots import write_confusion_matrix, write_regression_plots

    if target.task == "regression":
        from dltrain.report.regression_report import regression_metrics, write_feature_residuals

        true, pred = truth.reshape(-1), np.asarray(outputs).reshape(-1)
        write_regression_plots(plots_dir, true, pred, target.name, caption=caption)
        if columns:
            name = f"residuals_by_feature{suffix}"
            write_feature_residuals(plots_dir, columns, true, pred, name=name, caption=caption)
        numbers = regression_metrics(true, pred)
        return TargetEvaluation(
            task=target.task,
            checkpoint_epoch=checkpoint_epoch,
            r2=numbers.get("r2"),
            mae=numbers.get("mae"),
            rmse=numbers.get("rmse"),
        )

    from dltrain.report.calibration import write_calibration
    from dltrain.report.classification import write_classification_report

    labels = truth.reshape(-1).astype(np.int64)
    predicted = class_predictions(target, outputs)
    write_confusion_matrix(
        plots_dir,
        labels,
        predicted,
        target.class_names,
        name=f"confusion_matrix{suffix}.png",
        caption=caption,
    )
    names = list(target.class_names or [str(i) for i in range(max(target.units, 2))])
    report_name = f"classification_report{suffix}.csv"
    rows = write_classification_report(plots_dir / report_name, labels, predicted, names)
    summary = {row.label: row for row in rows}
    probabilities = np.asarray(outputs, dtype=np.float64)
    if target.task == "binary":
        probabilities = probabilities.reshape(-1)
    calibration = write_calibration(
        plots_dir, labels, probabilities, target.task, name=f"calibration{suffix}", caption=caption
    )
    record = TargetEvaluation(
        task=target.task,
        checkpoint_epoch=checkpoint_epoch,
        accuracy=summary["accuracy"].f1,
        macro_f1=summary["macro avg"].f1,
        weighted_f1=summary["weighted avg"].f1,
        classification_report=f"{plots_dir.name}/{report_name}",
        calibration=CalibrationRecord(
            ece=calibration["ece"],
            bins=calibration["bins"],
            confidence=calibration["confidence"],
            examples=calibration["examples"],
        ),
    )
    if target.task == "binary":
        _binary(plots_dir, record, labels, probabilities, suffix, caption, validation)
    return record


def _binary(
    plots_dir: Path,
    record: TargetEvaluation,
    labels: np.ndarray,
    scores: np.ndarray,
    suffix: str,
    caption: str,
    validation: ValidationScores | None,
) -> None:
    """ROC and precision-recall curves, and the threshold chosen on ``validation``."""
    from dltrain.report.roc import write_roc_pr
    from dltrain.report.threshold import (
        DEFAULT_THRESHOLD,
        RULE,
        binary_scores,
        choose_threshold,
    )

    curves = write_roc_pr(
        plots_dir, labels, scores, f"roc_pr{suffix}.json", caption=caption, png=True
    )
    if curves is not None:
        record.roc_auc = curves["roc_auc"]
        record.average_precision = curves["average_precision"]
    if validation is None:
        return
    choice = choose_threshold(validation.truth, validation.scores)
    if choice is None:
        return
    record.threshold = ThresholdRecord(
        value=choice.threshold,
        rule=RULE,
        split=validation.split,
        validation={"f1": choice.f1, "precision": choice.precision, "recall": choice.recall},
        test=binary_scores(labels, scores, choice.threshold),
        test_at_default=binary_scores(labels, scores, DEFAULT_THRESHOLD),
    )
