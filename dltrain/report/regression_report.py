"""A regression target's test report: R², MAE and RMSE, and for CSV runs the residuals by
input column (``plots/residuals_by_feature[_<target>].png`` and ``.csv``). NumPy only, but
for the drawing.

R² = 1 - sum((y - ŷ)²) / sum((y - mean y)²), 0 for a constant truth predicted exactly and
negative when the model does worse than predicting the mean. Residuals are true - predicted.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "FEATURES_MAX",
    "QUANTILE_BINS",
    "feature_residuals",
    "regression_metrics",
    "write_feature_residuals",
]

FEATURES_MAX = 12
"""At most this many numeric input columns are drawn and tabled (the first in column order)."""
QUANTILE_BINS = 5
"""The CSV's binned mean residual: this many equal-count bins of the column's values."""


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """``r2``, ``mae``, ``rmse`` and ``examples`` over the pairs where both are finite."""
    true = np.asarray(truth, dtype=np.float64).reshape(-1)
    pred = np.asarray(predicted, dtype=np.float64).reshape(-1)
    keep = np.isfinite(true) & np.isfinite(pred)
    true, pred = true[keep], pred[keep]
    if not true.size:
        return {"examples": 0.0}
    residual = true - pred
    spread = float(np.sum((true - true.mean()) ** 2))
    squared = float(np.sum(residual**2))
    r2 = 1.0 - squared / spread if spread > 0 else (0.0 if squared == 0 else -math.inf)
    return {
        "r2": r2,
        "mae": float(np.mean(np.abs(residual))),
        "rmse": math.sqrt(squared / true.size),
        "examples": float(true.size),
    }


def feature_residuals(
    columns: Mapping[str, np.ndarray], residuals: np.ndarray
) -> list[dict[str, float | str | int]]:
    """Per numeric column: the Pearson correlation of its values with the residuals (blank
    for a constant column), and the mean residual in :data:`QUANTILE_BINS` equal-count bins
    of its values (low to high). A model that used a column fully leaves none of either."""
    residual = np.asarray(residuals, dtype=np.float64).reshape(-1)
    rows: list[dict[str, float | str | int]] = []
    for name, values in list(columns.items())[:FEATURES_MAX]:
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        keep = np.isfinite(x) & np.isfinite(residual)
        x, r = x[keep], residual[keep]
        row: dict[str, float | str | int] = {"feature": name, "examples": int(x.size)}
        if x.size > 1 and np.std(x) > 0 and np.std(r) > 0:
            row["residual_correlation"] = float(np.corrcoef(x, r)[0, 1])
        else:
            row["residual_correlation"] = ""
        order = np.argsort(x, kind="stable")
        for i, part in enumerate(np.array_split(order, QUANTILE_BINS), start=1):
            row[f"mean_residual_bin{i}"] = float(r[part].mean()) if part.size else ""
        rows.append(row)
    return rows


def write_feature_residuals(
    plots_dir: Path,
    columns: Mapping[str, np.ndarray],
    truth: np.ndarray,
    predicted: np.ndarray,
    *,
    name: str = "residuals_by_feature",
    caption: str = "",
) -> list[Path]:
    """Write ``<name>.csv`` (:func:`feature_residuals`) and ``<name>.png`` (residual against
    each column, a grid of up to :data:`FEATURES_MAX` panels); nothing without columns.

    Raises:
        DiskFullError: the disk is full.
        RunFolderError: any other reason a file cannot be written.
    """
    from dltrain.report.plots import SCATTER_POINTS, new_figure, save_png, write_plot_file

    if not columns:
        return []
    residual = np.asarray(truth, dtype=np.float64).reshape(-1) - np.asarray(
        predicted, dtype=np.float64
    ).reshape(-1)
    rows = feature_residuals(columns, residual)
    fields = ["feature", "examples", "residual_correlation"]
    fields += [f"mean_residual_bin{i}" for i in range(1, QUANTILE_BINS + 1)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    written = [write_plot_file(plots_dir / f"{name}.csv", buffer.getvalue().encode("utf-8"))]

    shown = list(columns.items())[:FEATURES_MAX]
    width = min(len(shown), 4)
    height = math.ceil(len(shown) / width)
    fig = new_figure(3.4 * width, 3.0 * height + 0.6)
    axes = np.asarray(fig.subplots(height, width, squeeze=False)).reshape(-1)
    rng = np.random.default_rng(0)
    sample = (
        np.sort(rng.choice(residual.size, SCATTER_POINTS, replace=False))
        if residual.size > SCATTER_POINTS
        else np.arange(residual.size)
    )
    for ax, (column, values), row in zip(axes, shown, rows, strict=False):
        x = np.asarray(values, dtype=np.float64).reshape(-1)
        ax.scatter(x[sample], residual[sample], s=6, alpha=0.5)
        ax.axhline(0.0, color="tab:red", linestyle="--", linewidth=1)
        corr = row["residual_correlation"]
        ax.set_title(f"{column} (r = {corr:.3f})" if isinstance(corr, float) else column)
        ax.set_xlabel(column)
        ax.set_ylabel("residual")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle(f"residual (true - predicted) by input column{', ' + caption if caption else ''}")
    written.append(save_png(fig, plots_dir / f"{name}.png"))
    return written
