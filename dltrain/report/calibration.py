"""Calibration of a classification target: a reliability diagram and the expected
calibration error (ECE), as ``plots/calibration[_<target>].png`` and ``.json``.

Confidences go into :data:`BINS` equal-width bins over [0, 1] (a confidence of exactly 1 in
the last). Binary targets: the predicted probability of the positive class against the share
of positives in each bin. Multi-class: the top label's probability against the share of
examples whose top label is right. ECE = sum over bins of (examples in the bin / all) *
|mean confidence - observed share|. NumPy for the numbers; matplotlib only to draw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["BINS", "calibration_bins", "reliability_diagram", "write_calibration"]

BINS = 15

_WHAT = {
    "binary": ("predicted probability of the positive class", "share of positives"),
    "multiclass": ("top-label confidence", "accuracy"),
}


def calibration_bins(truth: np.ndarray, probabilities: np.ndarray, task: str) -> dict[str, Any]:
    """The reliability bins and ECE of one target's predictions.

    Args:
        truth: Class indices (binary: 0/1).
        probabilities: Binary: the positive class's probability per example; multi-class:
            one row of class probabilities per example.
        task: ``binary`` or ``multiclass``.

    Returns:
        ``ece``, ``bins`` (the count), ``examples``, ``confidence`` and ``observed`` (what the
        axes mean), and ``table``: per non-empty bin ``[low, high, count, mean confidence,
        observed share]``.
    """
    labels = np.asarray(truth).reshape(-1).astype(np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if task == "binary":
        confidence = probs.reshape(-1)
        hit = labels.astype(np.float64)
    else:
        rows = probs.reshape(len(labels), -1)
        confidence = rows.max(axis=1)
        hit = (rows.argmax(axis=1) == labels).astype(np.float64)
    keep = np.isfinite(confidence)
    confidence, hit = np.clip(confidence[keep], 0.0, 1.0), hit[keep]
    index = np.minimum((confidence * BINS).astype(np.int64), BINS - 1)
    count = np.bincount(index, minlength=BINS).astype(np.float64)
    mean_conf = np.divide(
        np.bincount(index, confidence, BINS), count, where=count > 0, out=np.zeros(BINS)
    )
    observed = np.divide(np.bincount(index, hit, BINS), count, where=count > 0, out=np.zeros(BINS))
    n = float(count.sum())
    ece = float(np.sum(count * np.abs(mean_conf - observed)) / n) if n else 0.0
    table = [
        [i / BINS, (i + 1) / BINS, int(count[i]), float(mean_conf[i]), float(observed[i])]
        for i in range(BINS)
        if count[i]
    ]
    axis, share = _WHAT["binary" if task == "binary" else "multiclass"]
    return {
        "ece": ece,
        "bins": BINS,
        "examples": int(n),
        "confidence": axis,
        "observed": share,
        "table": [[round(v, 6) if isinstance(v, float) else v for v in row] for row in table],
    }


def write_calibration(
    plots_dir: Path,
    truth: np.ndarray,
    probabilities: np.ndarray,
    task: str,
    *,
    name: str = "calibration",
    caption: str = "",
) -> dict[str, Any]:
    """Write ``<name>.json`` (:func:`calibration_bins` and the caption) and the reliability
    diagram ``<name>.png``; returns the JSON's content.

    Raises:
        DiskFullError: the disk is full.
        RunFolderError: any other reason a file cannot be written.
    """
    from dltrain.report.plots import new_figure, save_png, write_plot_file

    result = {**calibration_bins(truth, probabilities, task), "caption": caption}
    write_plot_file(plots_dir / f"{name}.json", json.dumps(result).encode("utf-8"))
    fig = reliability_diagram(result, new_figure(5.6, 5.6))
    save_png(fig, plots_dir / f"{name}.png")
    return result


def reliability_diagram(result: dict[str, Any], fig: Figure) -> Figure:
    """Draw :func:`calibration_bins`' ``result`` (as read back from its JSON, ``caption``
    included when present) on ``fig``: per bin a bar at the observed share, its mean
    confidence as a dot, and the diagonal of perfect calibration."""
    rows = [r for r in result.get("table") or [] if isinstance(r, list) and len(r) == 5]
    table = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
    ax = fig.add_subplot()
    observed = str(result.get("observed") or "observed share")
    ax.bar(
        (table[:, 0] + table[:, 1]) / 2,
        table[:, 4],
        width=table[:, 1] - table[:, 0],
        color="tab:blue",
        edgecolor="black",
        alpha=0.7,
        label=observed,
    )
    ax.plot(table[:, 3], table[:, 4], "o", color="tab:orange", label="bin mean confidence")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel(f"{result.get('confidence') or 'confidence'} ({result.get('bins')} bins)")
    ax.set_ylabel(observed)
    caption = result.get("caption")
    below = f"\n{caption}" if caption else ""
    ece, examples = result.get("ece"), result.get("examples")
    ece_text = f"{ece:.4f}" if isinstance(ece, int | float) else "-"
    ax.set_title(f"reliability, ECE {ece_text} ({examples} examples){below}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig
