"""A binary target's decision threshold, chosen on the validation split. NumPy only.

The rule (:data:`RULE`): among the cuts between distinct validation scores, the one with the
highest F1 of the positive class; a tie goes to the higher threshold (fewer positives). The
threshold is the midpoint between the two scores the cut falls between, and an example is
positive when its probability is *above* it, the same comparison ``dltrain predict`` makes at
its default of 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dltrain.report.roc import ranked_counts

__all__ = ["DEFAULT_THRESHOLD", "RULE", "ThresholdChoice", "binary_scores", "choose_threshold"]

RULE = "max F1"
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold and the validation scores it gives."""

    threshold: float
    f1: float
    precision: float
    recall: float


def choose_threshold(truth: np.ndarray, scores: np.ndarray) -> ThresholdChoice | None:
    """The threshold of highest F1 on ``truth`` (0/1) and ``scores`` (the positive class's
    probability); None when the labels hold no positive (F1 is 0 at every cut)."""
    counts = ranked_counts(truth, scores)
    if counts.positives == 0 or counts.scores.size == 0:
        return None
    tp, fp = counts.tp, counts.fp
    precision = tp / (tp + fp)
    recall = tp / counts.positives
    f1 = 2 * tp / (tp + fp + counts.positives)
    best = int(np.argmax(f1))  # the first maximum: the highest threshold among ties
    distinct = counts.scores
    if best + 1 < distinct.size:
        threshold = (distinct[best] + distinct[best + 1]) / 2
    else:  # every example positive: just below the lowest score
        threshold = float(np.nextafter(distinct[best], -np.inf))
    return ThresholdChoice(
        float(threshold), float(f1[best]), float(precision[best]), float(recall[best])
    )


def binary_scores(truth: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the positive class when ``scores > threshold``
    are called positive (precision 0 when nothing is)."""
    labels = np.asarray(truth).reshape(-1).astype(bool)
    called = np.asarray(scores, dtype=np.float64).reshape(-1) > threshold
    tp = float(np.sum(labels & called))
    fp = float(np.sum(~labels & called))
    fn = float(np.sum(labels & ~called))
    n = labels.size
    return {
        "accuracy": float(np.sum(labels == called) / n) if n else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
    }
