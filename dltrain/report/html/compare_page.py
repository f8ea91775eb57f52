"""A comparison's report page: the runs, their config differences (layers matched by name),
final metrics side by side, and one metric's curves overlaid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dltrain.config.diff import format_value
from dltrain.errors import UsageError
from dltrain.report.html.config_match import config_differences
from dltrain.report.html.document import Cell, Page, esc, missing, table
from dltrain.report.html.figures import overlay_figure
from dltrain.report.html.run_data import RunData
from dltrain.report.html.run_results import file_link
from dltrain.report.listing import RunSummary, metric_curve, metric_rows, overlay_metric

__all__ = ["build_comparison_page"]


def build_comparison_page(
    runs: list[RunData],
    summaries: list[RunSummary],
    page_dir: Path,
    metric: str | None = None,
) -> Page:
    """The page comparing ``runs`` (with their ``dltrain runs`` summaries, same order).

    Raises:
        UsageError: ``metric`` is in no run's ``metrics.csv``.
    """
    labels = _labels(runs)
    page = Page(
        title=f"comparison of {len(runs)} runs",
        subtitle=", ".join(labels),
        kind="comparison",
    )
    rows: list[list[Any]] = []
    for label, run, summary in zip(labels, runs, summaries, strict=True):
        test = summary.test_metric
        rows.append(
            [
                label,
                summary.status,
                summary.epochs,
                summary.duration_s,
                f"{test[0]} {test[1]:.4g}" if test else None,
                file_link(run.path / "run.json", page_dir, str(run.path)),
            ]
        )
    page.add(
        "runs",
        "Runs",
        table(["run", "status", "epochs", "duration (s)", "test", "folder"], rows, table_id="runs"),
    )
    differences = config_differences([run.config for run in runs])
    if differences:
        diff_rows = [[key, *(_value(v) for v in values)] for key, values in differences]
        diff = table(["key", *labels], diff_rows, table_id="config-diff")
        note = (
            "<p>Layers are matched by name (their <code>name:</code>, else Keras's: "
            "<code>dense</code>, <code>dense_1</code>...): a layer only some runs have is "
            "one row.</p>"
        )
        page.add("config", "Config differences", note + diff)
    else:
        page.add("config", "Config differences", "<p>The configs are the same.</p>")
    metrics = metric_rows(summaries)
    page.add(
        "metrics",
        "Final metrics",
        table(
            ["metric", *labels], [[name, *values] for name, values in metrics], table_id="metrics"
        )
        if metrics
        else missing("No run has final metrics."),
    )
    chosen = metric or overlay_metric([run.metrics for run in runs])
    curves = {
        label: metric_curve(run.metrics, chosen)
        for label, run in zip(labels, runs, strict=True)
        if metric_curve(run.metrics, chosen)
    }
    if not curves and metric is not None:
        names = dict.fromkeys(k for run in runs for row in run.metrics[:1] for k in row)
        raise UsageError(
            f"--metric {metric}: no run has it in metrics.csv. "
            f"Received runs with: {', '.join(k for k in names if k != 'epoch') or 'no metrics'}"
        )
    others = dict.fromkeys(
        k for run in runs for row in run.metrics[:1] for k in row if k not in ("epoch", chosen)
    )
    hint = (
        f"<p>Other curves (<code>--metric</code>): {esc(', '.join(others))}</p>" if others else ""
    )
    page.add(
        "curves",
        f"Curves: {chosen}",
        (
            overlay_figure(chosen, curves)
            if curves
            else missing(f"No run has {chosen} in its metrics.csv.")
        )
        + hint,
    )
    page.data = {
        "runs": [
            {"path": str(run.path), "run.json": run.raw_manifest, "metrics.csv": run.metrics}
            for run in runs
        ],
        "metric": chosen,
    }
    return page


def _labels(runs: list[RunData]) -> list[str]:
    labels: list[str] = []
    for index, run in enumerate(runs):
        label = f"{run.name}/{run.path.name}"
        labels.append(label if label not in labels else f"{label} ({index + 1})")
    return labels


def _value(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return Cell(esc(format_value(value)))
