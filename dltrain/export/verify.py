"""Proving an export: its outputs and test metrics beside the Keras model's, and its speed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dltrain.data.spec import TargetInfo

__all__ = [
    "FLOAT_TOLERANCE",
    "Verification",
    "measure_latency",
    "score_outputs",
    "verify_outputs",
]

FLOAT_TOLERANCE = 1e-4
"""Largest output difference a float32 export may show: absolute for outputs up to 1 in
size, relative to the output above (float32 keeps about 7 digits, so a price near 180,000
cannot agree to 1e-4 absolute)."""
ACCURACY_DROP = 0.01
"""Quantized classification: at most 1 point of accuracy lost."""
ERROR_GROWTH = 0.02
"""Quantized regression: the error metric (MAE) at most 2% larger."""

Predict = Callable[[dict[str, np.ndarray]], Any]


@dataclass
class Verification:
    """The comparison of an export with its Keras model on the test split."""

    examples: int
    max_abs_diff: float
    keras_metrics: dict[str, float]
    export_metrics: dict[str, float]
    failures: list[str] = field(default_factory=list)
    """Why the export is not within tolerance (empty: verified)."""

    @property
    def verified(self) -> bool:
        """Whether every tolerance held."""
        return not self.failures


def score_outputs(
    targets: list[TargetInfo], outputs: list[np.ndarray], labels: list[np.ndarray]
) -> dict[str, float]:
    """Accuracy per classification target, MAE and RMSE per regression target.

    Metric names get a ``<target>_`` prefix when the model has several targets.
    """
    metrics: dict[str, float] = {}
    for target, out, y in zip(targets, outputs, labels, strict=True):
        prefix = f"{target.name}_" if len(targets) > 1 else ""
        pred = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
        if target.task == "regression":
            err = pred[:, 0] - np.asarray(y, dtype=np.float64).reshape(-1)
            metrics[f"{prefix}mae"] = float(np.mean(np.abs(err)))
            metrics[f"{prefix}rmse"] = float(np.sqrt(np.mean(err**2)))
        else:
            truth = np.asarray(y).reshape(-1).astype(np.int64)
            chosen = pred.argmax(axis=1) if target.task == "multiclass" else pred[:, 0] > 0.5
            metrics[f"{prefix}accuracy"] = float(np.mean(chosen.astype(np.int64) == truth))
    return metrics


def verify_outputs(
    targets: list[TargetInfo],
    reference: list[np.ndarray],
    exported: list[np.ndarray],
    labels: list[np.ndarray],
    *,
    quantized: bool,
) -> Verification:
    """Compare an export's test outputs with the Keras model's and apply the tolerances.

    A float32 export must match within :data:`FLOAT_TOLERANCE`; a quantized one is judged
    by its metrics: :data:`ACCURACY_DROP` for classification, :data:`ERROR_GROWTH` of the
    MAE for regression.
    """
    diff = max(
        float(np.max(np.abs(np.asarray(e, np.float64).reshape(r.shape) - r), initial=0.0))
        for r, e in zip(reference, exported, strict=True)
    )
    relative = max(
        float(
            np.max(
                np.abs(np.asarray(e, np.float64).reshape(r.shape) - r)
                / np.maximum(1.0, np.abs(np.asarray(r, np.float64))),
                initial=0.0,
            )
        )
        for r, e in zip(reference, exported, strict=True)
    )
    keras_metrics = score_outputs(targets, reference, labels)
    export_metrics = score_outputs(targets, exported, labels)
    failures: list[str] = []
    if not quantized:
        if not relative <= FLOAT_TOLERANCE:
            failures.append(
                f"outputs differ from the Keras model by up to {diff:.3g} (tolerance "
                f"{FLOAT_TOLERANCE:g}, relative to outputs larger than 1)"
            )
    else:
        for name, before in keras_metrics.items():
            after = export_metrics[name]
            if name.endswith("accuracy") and not after >= before - ACCURACY_DROP:
                failures.append(
                    f"{name} {after:.4f} vs {before:.4f} for the Keras model: more than "
                    f"{ACCURACY_DROP * 100:g} point lost"
                )
            if name.endswith("mae") and not after <= before * (1 + ERROR_GROWTH):
                failures.append(
                    f"{name} {after:.4g} vs {before:.4g} for the Keras model: more than "
                    f"{ERROR_GROWTH:.0%} worse"
                )
    n = len(reference[0]) if reference else 0
    return Verification(n, diff, keras_metrics, export_metrics, failures)


def measure_latency(
    predict: Predict, x: dict[str, np.ndarray], batch: int, *, budget_s: float = 0.5
) -> float:
    """Median milliseconds per example of ``predict`` on batches of ``batch`` examples.

    The test examples are repeated when there are fewer than ``batch``. One untimed call
    comes first (graph tracing, tensor allocation); then calls repeat for about ``budget_s``
    seconds (at least 3).
    """
    n = len(next(iter(x.values())))
    index = np.arange(batch) % n
    sample = {k: v[index] for k, v in x.items()}
    predict(sample)
    times: list[float] = []
    spent = 0.0
    while len(times) < 3 or (spent < budget_s and len(times) < 200):
        start = time.perf_counter()
        predict(sample)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        spent += elapsed
    return statistics.median(times) * 1000.0 / batch
