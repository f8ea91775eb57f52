"""Integrated gradients and saliency with ``tf.GradientTape``, and IG's completeness check.

Integrated gradients (Sundararajan et al., 2017) attribute ``f(x) - f(baseline)`` to the
input's values: ``(x - baseline) * mean of the gradient along the straight path``. The path
integral is taken with the trapezoid rule over ``steps`` intervals; completeness (the
attributions sum to ``f(x) - f(baseline)``) measures how well ``steps`` sufficed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "COMPLETENESS_TOLERANCE",
    "DEFAULT_STEPS",
    "Completeness",
    "Forward",
    "completeness",
    "integrated_gradients",
    "saliency",
]

DEFAULT_STEPS = 128
"""Trapezoid intervals along the path: enough for completeness within 1% on the networks of
docs/explain.md (ReLU networks make the integrand piecewise constant, so a few kinks cost
``O(1/steps)`` each)."""

COMPLETENESS_TOLERANCE = 0.05
"""The check passes when the median relative gap |sum(attr) - (f(x) - f(b))| / |f(x) - f(b)|
is at most this."""

_ELEMENTS_PER_CALL = 2**22
"""Input values per forward pass along the path (16 MiB of float32), to bound memory."""

Forward = Callable[["tf.Tensor", np.ndarray], "tf.Tensor"]
"""``forward(x, rows) -> scores``: the scalar explained (the output unit of each example's
class) for a batch ``x`` whose example ``j`` stands for row ``rows[j]`` of the sample
(other inputs held fixed are taken at those rows)."""


@dataclass(frozen=True)
class Completeness:
    """How far the attributions' sums are from ``f(x) - f(baseline)``, summarized."""

    steps: int
    rule: str
    median_gap: float
    max_gap: float
    median_relative: float
    max_relative: float
    tolerance: float
    passed: bool

    def to_json(self) -> dict[str, Any]:
        """The record in ``explain.json``."""
        return asdict(self)


def completeness(
    attributions: np.ndarray,
    f_x: np.ndarray,
    f_baseline: np.ndarray,
    steps: int,
    *,
    tolerance: float = COMPLETENESS_TOLERANCE,
) -> Completeness:
    """Summarize |sum of attributions - (f(x) - f(baseline))| per example.

    The relative gap divides by |f(x) - f(baseline)| (at least 1e-6, so an example the
    baseline already scores like ``x`` does not divide by zero).
    """
    sums = attributions.reshape(len(attributions), -1).sum(axis=1)
    delta = f_x - f_baseline
    gap = np.abs(sums - delta)
    relative = gap / np.maximum(np.abs(delta), 1e-6)
    median_relative = float(np.median(relative))
    return Completeness(
        steps=steps,
        rule="trapezoid",
        median_gap=float(np.median(gap)),
        max_gap=float(np.max(gap)),
        median_relative=median_relative,
        max_relative=float(np.max(relative)),
        tolerance=tolerance,
        passed=bool(median_relative <= tolerance),
    )


def integrated_gradients(
    forward: Forward,
    x: np.ndarray,
    baseline: np.ndarray,
    *,
    steps: int = DEFAULT_STEPS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrated gradients of ``forward`` for each example of ``x``.

    Args:
        forward: The explained scalar per example (:data:`Forward`).
        x: The examples (float), examples on the first axis.
        baseline: One example's shape (broadcast to every example) or ``x``'s shape.
        steps: Trapezoid intervals along the path from the baseline to ``x``.

    Returns:
        ``(attributions, f(x), f(baseline))``: attributions shaped like ``x``.
    """
    import tensorflow as tf

    x = x.astype(np.float32)
    baselines = np.broadcast_to(baseline.astype(np.float32), x.shape)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, dtype=np.float32)
    weights[[0, -1]] /= 2.0  # the trapezoid rule
    per_example = int(np.prod(x.shape[1:], dtype=np.int64)) or 1
    chunk = max(1, _ELEMENTS_PER_CALL // (per_example * (steps + 1)))
    attributions = np.zeros_like(x)
    f_x = np.zeros(len(x), dtype=np.float64)
    f_b = np.zeros(len(x), dtype=np.float64)
    shape = (-1,) + (1,) * x.ndim
    for start in range(0, len(x), chunk):
        rows = np.arange(start, min(start + chunk, len(x)))
        xs, bs = x[rows], baselines[rows]
        # (steps + 1) copies of the chunk, alpha-major: path point k of example j at k*c + j.
        path = bs[None] + alphas.reshape(shape) * (xs - bs)[None]
        flat = tf.constant(path.reshape((-1, *x.shape[1:])))
        path_rows = np.tile(rows, steps + 1)
        with tf.GradientTape() as tape:
            tape.watch(flat)
            scores = forward(flat, path_rows)
        grads = tape.gradient(scores, flat)
        grads = np.asarray(grads).reshape(path.shape)
        mean_grad = np.tensordot(weights, grads, axes=(0, 0))
        attributions[rows] = (xs - bs) * mean_grad
        values = np.asarray(scores).reshape(steps + 1, len(rows))
        f_b[rows], f_x[rows] = values[0], values[-1]
    return attributions, f_x, f_b


def saliency(forward: Forward, x: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """|gradient| of ``forward`` at each example of ``x`` (Simonyan et al., 2014)."""
    import tensorflow as tf

    x = x.astype(np.float32)
    out = np.zeros_like(x)
    for start in range(0, len(x), batch):
        rows = np.arange(start, min(start + batch, len(x)))
        tensor = tf.constant(x[rows])
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            scores = forward(tensor, rows)
        out[rows] = np.abs(np.asarray(tape.gradient(scores, tensor)))
    return out
