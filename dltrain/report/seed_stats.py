"""Repeated seeds: mean, spread and a 95 % interval of each final metric (no TensorFlow).

The interval is Student's t: ``mean ± t(0.975, n-1) · s / sqrt(n)``, with ``s`` the sample
standard deviation; it says where the mean over many seeds would be, given these ``n``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["SEEDS_FILE", "MetricSpread", "spread", "t_975"]

SEEDS_FILE = "seeds.json"
"""Marks a ``run --seeds`` group folder: ``<group>/seed-<S>/<stamp>/`` are its runs."""

# Two-sided 95 % critical values of Student's t for 1..30 degrees of freedom.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_975(degrees: int) -> float:
    """t(0.975, degrees); beyond 30 degrees of freedom the normal 1.96 (within 2 %)."""
    if degrees < 1:
        raise ValueError("an interval needs at least two values")
    return _T975[degrees - 1] if degrees <= len(_T975) else 1.96


@dataclass(frozen=True)
class MetricSpread:
    """One metric over the seeds."""

    values: tuple[float, ...]
    mean: float
    std: float | None
    """Sample standard deviation (``None`` for a single value)."""
    low: float | None
    high: float | None
    """The 95 % interval of the mean (``None`` for a single value)."""

    def to_json(self) -> dict[str, object]:
        """For seeds.json."""
        return {
            "n": len(self.values),
            "mean": self.mean,
            "std": self.std,
            "ci95": None if self.low is None else [self.low, self.high],
            "values": list(self.values),
        }


def spread(metrics: Sequence[Mapping[str, float]]) -> dict[str, MetricSpread]:
    """Per metric name found in every mapping: its spread over them (in the given order)."""
    if not metrics:
        return {}
    names = [n for n in metrics[0] if all(n in m for m in metrics)]
    out = {}
    for name in names:
        values = tuple(float(m[name]) for m in metrics)
        mean = statistics.fmean(values)
        if len(values) < 2:
            out[name] = MetricSpread(values, mean, None, None, None)
            continue
        std = statistics.stdev(values)
        half = t_975(len(values) - 1) * std / math.sqrt(len(values))
        out[name] = MetricSpread(values, mean, std, mean - half, mean + half)
    return out
