"""ROC and precision-recall curves of a binary target on the test split, kept as numbers.

Written as ``plots/roc_pr[_<target>].json`` when a run ends (the predictions exist only
then); ``dltrain report`` draws them. NumPy only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["POINTS", "RankedCounts", "ranked_counts", "roc_pr", "write_roc_pr"]

POINTS = 200
"""At most this many points per curve (evenly spaced along it): enough to draw it."""


@dataclass(frozen=True)
class RankedCounts:
    """Positives and negatives taken when a cut falls below each distinct score, highest
    score first: entry ``i`` counts every example scoring at least ``scores[i]``."""

    scores: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    positives: int
    negatives: int


def ranked_counts(truth: np.ndarray, scores: np.ndarray) -> RankedCounts:
    """Cumulative true and false positives per distinct score (descending)."""
    labels = np.asarray(truth).reshape(-1).astype(bool)
    score = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-score, kind="stable")
    ranked, hits = score[order], labels[order]
    # One point per distinct score: ties move together, as a threshold would take them.
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1][: ranked.size]
    tp = np.cumsum(hits)[last].astype(np.float64)
    fp = (last + 1 - tp).astype(np.float64)
    return RankedCounts(ranked[last], tp, fp, int(labels.sum()), int((~labels).sum()))


def roc_pr(truth: np.ndarray, scores: np.ndarray) -> dict[str, Any] | None:
    """ROC (false and true positive rates) and precision-recall points, with the ROC's area
    and the average precision; None when the split lacks positives or negatives.

    The area is the trapezoid rule over one point per distinct score, which is the
    Mann-Whitney statistic: the share of (positive, negative) pairs ranked right, a tie
    counting one half."""
    counts = ranked_counts(truth, scores)
    positives, negatives = counts.positives, counts.negatives
    if positives == 0 or negatives == 0:
        return None
    tp, fp = counts.tp, counts.fp
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


def write_roc_pr(
    plots_dir: Path,
    truth: np.ndarray,
    scores: np.ndarray,
    name: str,
    *,
    caption: str = "",
    png: bool = False,
) -> dict[str, Any] | None:
    """Write ``plots_dir/name`` (JSON) for a binary target, and with ``png`` the two curves
    beside it (``<name stem>.png``); returns the curves, None when the split has one class."""
    from dltrain.report.plots import write_plot_file

    curves = roc_pr(truth, scores)
    if curves is None:
        return None
    path = write_plot_file(plots_dir / name, json.dumps(curves).encode("utf-8"))
    if png:
        _draw(curves, path.with_suffix(".png"), caption)
    return curves


def _draw(curves: dict[str, Any], path: Path, caption: str) -> None:
    from dltrain.report.plots import new_figure, save_png

    fig = new_figure(10.0, 4.6)
    left, right = fig.subplots(1, 2)
    roc, pr = np.asarray(curves["roc"]), np.asarray(curves["pr"])
    left.plot(roc[:, 0], roc[:, 1], label=f"area {curves['roc_auc']:.4f}")
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    left.set_xlabel("false positive rate")
    left.set_ylabel("true positive rate")
    right.plot(pr[:, 0], pr[:, 1], label=f"average precision {curves['average_precision']:.4f}")
    share = curves["positives"] / (curves["positives"] + curves["negatives"])
    right.axhline(share, color="grey", linestyle=":", label=f"positive share {share:.3f}")
    right.set_xlabel("recall")
    right.set_ylabel("precision")
    below = f"\n{caption}" if caption else ""
    for ax, title in ((left, "ROC"), (right, "precision-recall")):
        ax.set_title(title + below)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right" if ax is left else "lower left")
    save_png(fig, path)
