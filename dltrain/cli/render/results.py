"""Rich rendering of run results, comparisons and model summaries (run listings: listing.py).

Like everything under :mod:`dltrain.cli`, it may print; the library below it never does
(import-linter keeps ``rich`` out of it, ruff forbids ``print``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dltrain.cli.render.listing import render_runs_table  # its home before the split
from dltrain.config.diff import format_value
from dltrain.utils.units import format_bytes

if TYPE_CHECKING:
    from dltrain.engine.run import RunResult
    from dltrain.engine.seeds import SeedsResult
    from dltrain.model.summary import ModelSummary
    from dltrain.report.listing import Comparison
    from dltrain.report.seed_compare import GroupComparison

__all__ = [
    "format_column",
    "render_comparison",
    "render_metrics",
    "render_model_summary",
    "render_run_result",
    "render_runs_table",
    "render_seeds",
]


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
    return str(value)


def _cells(*values: object) -> list[Text]:
    # Text cells: user strings such as "layers[0]" must never be read as Rich markup.
    return [Text(v if isinstance(v, str) else _fmt(v)) for v in values]


def render_model_summary(console: Console, summary: ModelSummary) -> None:
    """Layer table with output shapes and parameter counts, then totals."""
    table = Table(title="model", title_justify="left")
    table.add_column("layer")
    table.add_column("class")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    for row in summary.rows:
        table.add_row(*_cells(row.name, row.class_name, row.output_shape, f"{row.params:,}"))
    console.print(table)
    console.print(
        f"total params: {summary.total_params:,}  trainable: {summary.trainable_params:,}  "
        f"non-trainable: {summary.non_trainable_params:,}  "
        f"weights: {format_bytes(summary.weights_bytes)}",
        markup=False,
    )


def format_column(values: list[float]) -> list[str]:
    """Numbers of one table column, so they line up and compare at a glance.

    Fixed point with thousands separators and five significant digits, at most four decimals
    (``153,399`` and ``1,324.9`` beside ``0.7500``: no digits below what the number means),
    unless a value would lose its digits that way (non-zero below 1e-4, or 1e12 and up): then
    the whole column is scientific (``1.2960e-05``). NaN and infinities are written as such.
    """
    finite = [abs(v) for v in values if math.isfinite(v) and v != 0]
    fixed = all(1e-4 <= v < 1e12 for v in finite)
    return [
        (_significant(v) if fixed else f"{v:.4e}") if math.isfinite(v) else str(v) for v in values
    ]


def _significant(value: float, digits: int = 5) -> str:
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    decimals = min(4, max(0, digits - 1 - magnitude))
    return f"{value:,.{decimals}f}"


def render_metrics(console: Console, metrics: dict[str, float], title: str) -> None:
    """A two-column table of metric values, all in one number format."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, text in zip(metrics, format_column(list(metrics.values())), strict=True):
        table.add_row(*_cells(name, text))
    console.print(table)


def render_run_result(console: Console, result: RunResult) -> None:
    """The test metrics table (printed once) and where the run is."""
    if result.test_metrics:
        render_metrics(console, result.test_metrics, "test metrics")
    if result.stopped_early:
        console.print(f"stopped early after epoch {result.epochs_completed}", markup=False)
    if result.message:
        style = "yellow" if result.status == "interrupted" else "red"
        console.print(result.message, markup=False, style=style)
    console.print(f"run folder: {result.run_dir}  ({result.status})", markup=False)


def render_seeds(console: Console, result: SeedsResult) -> None:
    """``run --seeds``: each seed's test metrics, then mean, spread and 95 % interval."""
    completed = sum(r.status == "completed" for r in result.runs)
    table = Table(
        title=f"test metrics over {completed} of {len(result.seeds)} seeds "
        f"({', '.join(str(s) for s in result.seeds)})",
        title_justify="left",
    )
    for column in ("metric", "mean", "std", "95% interval", "values"):
        table.add_column(column, justify="left" if column in ("metric", "values") else "right")
    for name, s in result.summary.items():
        interval = "-" if s.low is None else f"{s.low:.4f} .. {s.high:.4f}"
        table.add_row(
            name,
            f"{s.mean:.4f}",
            "-" if s.std is None else f"{s.std:.4f}",
            interval,
            ", ".join(f"{v:.4f}" for v in s.values),
        )
    console.print(table)
    for seed, run in zip(result.seeds, result.runs, strict=False):
        if run.status != "completed":
            console.print(f"seed {seed}: {run.status} ({run.run_dir})", markup=False, style="red")
    console.print(f"seeds folder: {result.folder}  (seeds.json)", markup=False)


def render_comparison(console: Console, comparison: Comparison) -> None:
    """``dltrain compare``: config differences and metrics side by side."""
    labels = [f"{r.name}/{r.path.name}" for r in comparison.runs]
    diff = Table(title="config differences", title_justify="left")
    diff.add_column("key")
    for label in labels:
        diff.add_column(label)
    for key, values in comparison.config_diff:
        # Config values as written (learning rates 1e-5 and 2e-5 must not both read 0.0000).
        diff.add_row(*_cells(key, *[format_value(v) for v in values]))
    if comparison.config_diff:
        console.print(diff)
    else:
        console.print("configs are identical", markup=False)
    metrics = Table(title="final metrics", title_justify="left")
    metrics.add_column("metric")
    for label in labels:
        metrics.add_column(label, justify="right")
    for key, values in comparison.metrics:
        metrics.add_row(*_cells(key, *[_fmt(v) for v in values]))
    console.print(metrics)
    if comparison.plot is not None:
        console.print(f"validation curves: {comparison.plot}", markup=False)


def render_group_comparison(console: Console, comparison: GroupComparison) -> None:
    """``dltrain compare GROUP_A GROUP_B``: config differences, then each test metric's mean
    and spread per group, the difference with its interval, and Welch's test."""
    a, b = comparison.a, comparison.b
    labels = [f"A {a.path.parent.name}/{a.path.name}", f"B {b.path.parent.name}/{b.path.name}"]
    if comparison.config_diff:
        diff = Table(title="config differences (seed left out)", title_justify="left")
        for column in ("key", *labels):
            diff.add_column(column)
        for key, values in comparison.config_diff:
            diff.add_row(*_cells(key, *[format_value(v) for v in values]))
        console.print(diff)
    else:
        console.print("configs are identical but for the seed", markup=False)
    table = Table(
        title=f"test metrics over seeds: A {len(a.test)} runs, B {len(b.test)} runs",
        title_justify="left",
    )
    for column in ("metric", "A mean ± std", "B mean ± std", "B - A", "95% interval", "p"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    table.add_column("verdict")
    for test in comparison.tests:
        interval = "-" if test.low is None else f"{test.low:+.4f} .. {test.high:+.4f}"
        table.add_row(
            test.metric,
            _mean_std(test.a.mean, test.a.std),
            _mean_std(test.b.mean, test.b.std),
            f"{test.difference:+.4f}",
            interval,
            "-" if test.p is None else f"{test.p:.3g}",
            test.verdict.split(" (")[0],
            style="bold" if test.significant else None,
        )
    console.print(table)
    console.print(comparison.test, markup=False, style="dim")


def _mean_std(mean: float, std: float | None) -> str:
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"
