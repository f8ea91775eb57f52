"""ROC and precision-recall curves of a binary target on the test split, kept as numbers.

Written as ``plots/roc_pr[_<target>].json`` when a run ends (the predictions exist only
then); ``dltrain report`` draws them. NumPy only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["POINTS", "roc_pr", "write_roc_pr"]

POINTS = 200
"""At most this many points per curve (evenly spaced along it): enough to draw it."""


def roc_pr(truth: np.ndarray, scores: np.ndarray) -> dict[str, Any] | None:
    """ROC (false and true positive rates) and precision-recall points, with the ROC's area
    and the average precision; None when the split lacks positives or negatives."""
    labels = np.asarray(truth).reshape(-1).astype(bool)
    score = np.asarray(scores, dtype=np.float64).reshape(-1)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(-score, kind="stable")
    ranked, hits = score[order], labels[order]
    # One point per distinct score: ties move together, as a threshold would take them.
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tp = np.cumsum(hits)[last].astype(np.float64)
    fp = (last + 1 - tp).astype(np.float64)
    tpr, fpr = np.r_[0.0, tp / positives], np.r_[0.0, fp / negatives]
    precision, recall = tp / (tp + fp), tp / positives
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # the trapezoid rule
    average_precision = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return {
        "positives": positives,
        "negatives": negatives,
        "roc_auc": auc,
        "average_precision": average_precision,
        "roc": _thin(np.column_stack([fpr, tpr])),
        "pr": _thin(np.column_stack([recall, precision])),
    }


def _thin(points: np.ndarray) -> list[list[float]]:
    if len(points) > POINTS:
        points = points[np.unique(np.linspace(0, len(points) - 1, POINTS).round().astype(int))]
    return [[round(float(x), 5), round(float(y), 5)] for x, y in points]


def write_roc_pr(plots_dir: Path, truth: np.ndarray, scores: np.ndarray, name: str) -> Path | None:
    """Write ``plots_dir/name`` (JSON) for a binary target; None when it has one class only."""
    from dltrain.report.plots import write_plot_file

    curves = roc_pr(truth, scores)
    if curves is None:
        return None
    return write_plot_file(plots_dir / name, json.dumps(curves).encode("utf-8"))
