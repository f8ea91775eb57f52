"""``dltrain compare GROUP_A GROUP_B``: is a difference between two ``run --seeds`` groups larger
than the seed noise?

Each group's completed runs give one test value per seed (``seeds.json``). For every test
metric both groups have, Welch's t-test (two-sided, unequal variances: the two configs need
not spread alike) compares the means; the difference is B - A with its 95 % Welch interval.
A difference is called larger than the seed noise when p < 0.05. With two or three seeds a
group the test has little power: "within seed noise" then means "not shown", not "equal".
SciPy computes the test (``scipy.stats.ttest_ind(..., equal_var=False)``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dltrain.errors import CheckpointError, UsageError
from dltrain.report.listing import config_differences
from dltrain.report.seed_stats import SEEDS_FILE, MetricSpread, spread

__all__ = ["ALPHA", "GroupComparison", "MetricTest", "SeedGroup", "compare_groups", "is_seed_group"]

ALPHA = 0.05
"""The test's level: p below it calls a difference larger than the seed noise."""


@dataclass(frozen=True)
class SeedGroup:
    """A ``run --seeds`` group folder: its completed runs and their test metrics."""

    path: Path
    seeds: list[int]
    runs: list[Path]
    """The completed runs' folders, in seed order."""
    test: list[dict[str, float]]
    """The completed runs' test metrics, in seed order."""


@dataclass(frozen=True)
class MetricTest:
    """One test metric: both groups' spread and Welch's test of B - A."""

    metric: str
    a: MetricSpread
    b: MetricSpread
    difference: float
    """Mean of B minus mean of A."""
    low: float | None
    high: float | None
    """95 % Welch interval of the difference (None when it cannot be computed)."""
    t: float | None
    df: float | None
    """Welch-Satterthwaite degrees of freedom."""
    p: float | None
    verdict: str

    @property
    def significant(self) -> bool:
        """Whether the difference is larger than the seed noise at :data:`ALPHA`."""
        return self.p is not None and self.p < ALPHA

    def to_json(self) -> dict[str, Any]:
        """For ``--json``."""
        return {
            "metric": self.metric,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "difference": self.difference,
            "ci95": None if self.low is None else [self.low, self.high],
            "t": self.t,
            "df": self.df,
            "p": self.p,
            "significant": self.significant,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class GroupComparison:
    """Two seed groups side by side."""

    a: SeedGroup
    b: SeedGroup
    config_diff: list[tuple[str, list[Any]]]
    """Config keys that differ between the groups' first runs (``seed`` left out)."""
    tests: list[MetricTest]
    test: str = "Welch's t-test, two-sided, unequal variances; alpha 0.05"


def is_seed_group(path: Path) -> bool:
    """Whether ``path`` is a ``run --seeds`` group folder (it holds ``seeds.json``)."""
    return (path / SEEDS_FILE).is_file()


def read_seed_group(path: Path) -> SeedGroup:
    """Open a group folder through its ``seeds.json``.

    Raises:
        CheckpointError: ``seeds.json`` cannot be read or is not a seeds record.
    """
    file = path / SEEDS_FILE
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
        rows = [r for r in record["runs"] if r.get("status") == "completed" and r.get("test")]
        seeds = [int(s) for s in record["seeds"]]
        runs = [path / str(r["run_dir"]) for r in rows]
        test = [{str(k): float(v) for k, v in r["test"].items()} for r in rows]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"{file}: not a readable seeds record ({type(exc).__name__}: {exc}); it is written "
            "by dltrain run --seeds"
        ) from exc
    return SeedGroup(path=path, seeds=seeds, runs=runs, test=test)


def compare_groups(first: Path, second: Path) -> GroupComparison:
    """Compare two seed groups' test metrics, metric by metric, by Welch's t-test.

    Raises:
        UsageError: a folder is not a seed group, the same group is given twice, or a group
            has fewer than two completed runs.
        CheckpointError: a ``seeds.json`` or a run's config cannot be read.
    """
    for path in (first, second):
        if not is_seed_group(path):
            raise UsageError(
                f"{path}: not a seeds group folder (no {SEEDS_FILE}); compare takes either run "
                "folders or two folders written by dltrain run --seeds"
            )
    if first.resolve() == second.resolve():
        raise UsageError(f"{first}: the same seeds group is given twice")
    a, b = read_seed_group(first), read_seed_group(second)
    for group in (a, b):
        if len(group.test) < 2:
            raise UsageError(
                f"{group.path}: {len(group.test)} completed run(s); a comparison against the "
                "seed noise needs at least 2 per group (finish the group's runs with "
                "dltrain run --resume, or run more seeds)"
            )
    spread_a, spread_b = spread(a.test), spread(b.test)
    tests = [_welch(name, spread_a[name], spread_b[name]) for name in spread_a if name in spread_b]
    diff = config_differences([a.runs[0], b.runs[0]], ignore=frozenset({"seed", "name"}))
    return GroupComparison(a=a, b=b, config_diff=diff, tests=tests)


def _welch(name: str, a: MetricSpread, b: MetricSpread) -> MetricTest:
    from scipy import stats

    difference = b.mean - a.mean
    if a.std == 0 and b.std == 0:
        # No spread in either group: SciPy's t is undefined. Equal values are the same;
        # different ones differ beyond any noise these seeds showed.
        same = difference == 0
        return MetricTest(
            metric=name,
            a=a,
            b=b,
            difference=difference,
            low=difference,
            high=difference,
            t=None,
            df=None,
            p=1.0 if same else 0.0,
            verdict="identical on every seed" if same else "differs on every seed, no seed noise",
        )
    result = stats.ttest_ind(b.values, a.values, equal_var=False)
    interval = result.confidence_interval(0.95)
    p = float(result.pvalue)
    low, high = float(interval.low), float(interval.high)
    if p < ALPHA:
        verdict = f"larger than the seed noise (p = {p:.3g} < {ALPHA})"
    else:
        verdict = f"within the seed noise (p = {p:.3g})"
    return MetricTest(
        metric=name,
        a=a,
        b=b,
        difference=difference,
        low=low if math.isfinite(low) else None,
        high=high if math.isfinite(high) else None,
        t=float(result.statistic),
        df=float(result.df),
        p=p,
        verdict=verdict,
    )
