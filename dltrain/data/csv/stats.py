"""Seeded row-to-split assignment and training-split statistics, computed chunk by chunk.

Both the in-memory and the streaming CSV readers use these, so they agree exactly on which row
goes to which split and (up to float rounding) on normalization statistics and vocabularies.
No TensorFlow here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from dltrain.data.csv.text import TextVocab

__all__ = ["TRAIN", "TEST", "VALIDATION", "StatsAccumulator", "TabularStats", "split_codes"]

TRAIN, VALIDATION, TEST = 0, 1, 2
_MASK = (1 << 64) - 1


def _splitmix64(x: np.ndarray) -> np.ndarray:
    # Array-only uint64 arithmetic: it wraps silently (scalar overflow would warn).
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = x ^ (x >> np.uint64(31))
    return out


def split_codes(
    start: int, count: int, seed: int, test: float | None, validation: float | None
) -> np.ndarray:
    """Split of data rows ``start .. start+count-1``: TRAIN, VALIDATION or TEST (uint8).

    A row's split depends only on (seed, row index), never on the other rows, so a file can
    be split while it streams past; the shares are ``test`` and ``validation`` of the rest.
    """
    salt = _splitmix64(np.array([seed & _MASK], dtype=np.uint64))
    index = np.arange(start, start + count, dtype=np.uint64)
    u = (_splitmix64(index ^ salt) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    t = test or 0.0
    v = (1.0 - t) * (validation or 0.0)
    codes = np.full(count, TRAIN, dtype=np.uint8)
    codes[u < t + v] = VALIDATION
    codes[u < t] = TEST
    return codes


@dataclass
class TabularStats:
    """Training-split statistics of the feature columns."""

    mean: dict[str, float] = field(default_factory=dict)
    variance: dict[str, float] = field(default_factory=dict)
    vocab: dict[str, tuple[str, ...]] = field(default_factory=dict)
    mode: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    text: dict[str, TextVocab] = field(default_factory=dict)
    """Per text column, its vocabulary adapted on the training split."""
    target_scale: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    """Per scaled regression target: (mode, mean, standard deviation) of the value
    (``standard``) or of its natural logarithm (``log``) over the training split."""


@dataclass
class _Moments:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = np.inf
    high: float = -np.inf

    def update(self, values: np.ndarray) -> None:
        missing = np.isnan(values)
        if missing.any():
            values = values[~missing]
        n = values.size
        if not n:
            return
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        # Chan et al.'s parallel update: exact merge of (count, mean, M2) per chunk.
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))


class StatsAccumulator:
    """Mean/variance of numeric columns and vocabularies of categorical ones, over chunks.

    ``targets``: regression targets scaled for training, by mode (``standard``, ``log``); their
    moments are of the value, or of its natural logarithm under ``log`` (the model then learns
    the standardized logarithm, so both modes end in unit scale).
    """

    def __init__(
        self,
        numeric: Sequence[str],
        categorical: Sequence[str],
        targets: Mapping[str, str] | None = None,
    ) -> None:
        self._moments = {c: _Moments() for c in numeric}
        self._counts: dict[str, Counter[str]] = {c: Counter() for c in categorical}
        self._targets = dict(targets or {})
        self._target_moments = {t: _Moments() for t in self._targets}
        self.rows = 0

    def update(
        self,
        numeric: dict[str, np.ndarray],
        categorical: dict[str, np.ndarray],
        targets: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Add training rows (NaN / ``""`` cells are missing and skipped).

        ``targets``: the rows' target values, by name (needed when targets are scaled);
        values of a ``log`` target must be above 0 (the loaders check first).
        """
        for column, values in numeric.items():
            self._moments[column].update(values)
        for column, strings in categorical.items():
            self._counts[column].update(s for s in strings.tolist() if s != "")
        for target, mode in self._targets.items():
            values = np.asarray((targets or {})[target], dtype=np.float64)
            self._target_moments[target].update(np.log(values) if mode == "log" else values)
        self.rows += len(next(iter(numeric.values()), next(iter(categorical.values()), [])))

    def finish(self) -> tuple[TabularStats, list[str]]:
        """The statistics, and warnings for constant or (in training) empty columns."""
        stats = TabularStats(rows=self.rows)
        warnings = []
        for column, m in self._moments.items():
            if not m.count:
                warnings.append(
                    f"column {column!r} has no values in the training split; it is filled "
                    "with 0 and carries no information"
                )
                stats.mean[column], stats.variance[column] = 0.0, 1.0
                continue
            stats.mean[column] = m.mean
            stats.variance[column] = m.m2 / m.count
            if m.low == m.high:
                warnings.append(
                    f"column {column!r} is constant ({m.low:g}) in the training split; it "
                    "carries no information"
                )
        for target, mode in self._targets.items():
            m = self._target_moments[target]
            std = float(np.sqrt(m.m2 / m.count)) if m.count else 0.0
            if not std > 0:
                warnings.append(
                    f"target {target!r} is constant in the training split; target_scaling: "
                    f"{mode} only shifts it (standard deviation taken as 1)"
                )
                std = 1.0
            stats.target_scale[target] = (mode, m.mean, std)
        for column, counts in self._counts.items():
            vocab = tuple(sorted(counts))
            stats.vocab[column] = vocab
            if not vocab:
                warnings.append(
                    f"column {column!r} has no values in the training split; every value "
                    "will be treated as an unknown category"
                )
                # A one-entry vocabulary keeps the lookup layer valid; "" is what empty cells hold.
                stats.vocab[column] = ("",)
                stats.mode[column] = ""
                continue
            # Most frequent value; ties go to the first in sorted order (deterministic).
            stats.mode[column] = min(vocab, key=lambda v: (-counts[v], v))
            if len(vocab) == 1:
                warnings.append(
                    f"column {column!r} is constant ({vocab[0]!r}) in the training split; "
                    "it carries no information"
                )
        return stats, warnings
