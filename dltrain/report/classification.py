"""A classification target's per-class report: precision, recall, F1 and support per class,
with accuracy and the macro and weighted averages, as ``classification_report.csv``.

Built from the confusion counts (rows true, columns predicted), so the end of a run,
``dltrain eval`` and ``dltrain report`` (which reads only the counts of older runs) compute it
the same way. A class never predicted has precision 0, one never seen recall 0, and F1 is 0
where precision and recall are both 0 (scikit-learn's ``zero_division=0``): the averages stay
defined. NumPy only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "REPORT_COLUMNS",
    "ClassRow",
    "classification_report",
    "confusion_counts",
    "report_csv",
    "write_classification_report",
]

REPORT_COLUMNS = ["class", "precision", "recall", "f1", "support"]
"""The CSV's columns; the summary rows are ``accuracy``, ``macro avg`` and ``weighted avg``
(accuracy's row holds it under ``f1`` and the split's size under ``support``)."""


@dataclass(frozen=True)
class ClassRow:
    """One row of the report: a class, or a summary (``accuracy``, ``macro avg``, ...)."""

    label: str
    precision: float | None
    recall: float | None
    f1: float
    support: int
    predicted: int | None = None
    """How many examples were predicted as this class (per-class rows only)."""


def confusion_counts(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """``classes x classes`` counts, rows true and columns predicted, of class indices."""
    true = np.asarray(truth).reshape(-1).astype(np.int64)
    pred = np.asarray(predicted).reshape(-1).astype(np.int64)
    n = max(classes, int(true.max(initial=-1)) + 1, int(pred.max(initial=-1)) + 1)
    return np.bincount(true * n + pred, minlength=n * n).reshape(n, n)


def classification_report(counts: np.ndarray, labels: Sequence[str]) -> list[ClassRow]:
    """Per-class rows (in ``labels``' order), then ``accuracy``, ``macro avg``, ``weighted avg``.

    Args:
        counts: Square confusion counts, rows true and columns predicted.
        labels: A name per class (as many as ``counts`` has rows; missing names are indices).
    """
    matrix = np.asarray(counts, dtype=np.float64)
    hits = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    names = [labels[i] if i < len(labels) else str(i) for i in range(len(hits))]
    rows = [
        ClassRow(
            names[i],
            float(precision[i]),
            float(recall[i]),
            float(f1[i]),
            int(support[i]),
            int(predicted[i]),
        )
        for i in range(len(hits))
    ]
    total = float(support.sum())
    accuracy = float(hits.sum() / total) if total else 0.0
    weights = support / total if total else np.zeros_like(support)
    rows.append(ClassRow("accuracy", None, None, accuracy, int(total)))
    rows.append(
        ClassRow(
            "macro avg", float(precision.mean()), float(recall.mean()), float(f1.mean()), int(total)
        )
    )
    rows.append(
        ClassRow(
            "weighted avg",
            float(weights @ precision),
            float(weights @ recall),
            float(weights @ f1),
            int(total),
        )
    )
    return rows


def report_csv(rows: Sequence[ClassRow]) -> str:
    """The report as CSV text (:data:`REPORT_COLUMNS`; blanks where a row has no value)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for row in rows:
        writer.writerow(
            [row.label, _cell(row.precision), _cell(row.recall), _cell(row.f1), row.support]
        )
    return buffer.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def write_classification_report(
    path: Path, truth: np.ndarray, predicted: np.ndarray, labels: Sequence[str]
) -> list[ClassRow]:
    """Write the report of class indices ``predicted`` against ``truth`` as CSV at ``path``.

    Raises:
        DiskFullError: the disk is full.
        RunFolderError: any other reason the file cannot be written.
    """
    from dltrain.report.plots import write_plot_file

    rows = classification_report(confusion_counts(truth, predicted, len(labels)), labels)
    write_plot_file(path, report_csv(rows).encode("utf-8"))
    return rows
