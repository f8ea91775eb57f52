"""The report pages' figures, drawn from the folder's numbers and returned as inline SVG.

The run's own PNGs stay in ``plots/``; the page redraws its curves so they stay sharp at any
zoom and cost a few kilobytes each, with the same epochs marked (the tested checkpoint's and
the early stop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dltrain.report.html.document import figure_svg
from dltrain.report.plots import mark_epochs, new_figure

__all__ = [
    "curve_figure",
    "heatmap_figure",
    "overlay_figure",
    "reliability_figure",
    "scatter_figure",
    "xy_figure",
]

Points = Sequence[tuple[float, float]]


def curve_figure(
    title: str,
    ylabel: str,
    series: Mapping[str, Points],
    *,
    marks: Sequence[tuple[float, str]] = (),
    log_y: bool = False,
) -> str:
    """Per-epoch curves with vertical marks (``(epoch, label)``: best, early stop); ``log_y``
    draws the values on a log axis."""
    fig = new_figure(6.0, 3.6)
    ax = fig.add_subplot()
    for label, points in series.items():
        ordered = sorted(points)
        style: dict[str, Any] = {"marker": "o", "markersize": 3} if len(ordered) <= 50 else {}
        ax.plot([x for x, _ in ordered], [y for _, y in ordered], label=label, **style)
    mark_epochs(ax, marks)
    if log_y:
        ax.set_yscale("log")
    epochs = sorted({x for points in series.values() for x, _ in points})
    if 0 < len(epochs) <= 10:
        ax.set_xticks(epochs)  # else a single epoch gets ticks at 0.96, 0.98, 1.00...
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if series or marks:
        ax.legend(fontsize="small")
    return figure_svg(fig)


def overlay_figure(metric: str, curves: Mapping[str, Points]) -> str:
    """One metric's curve per run, overlaid (a comparison)."""
    return curve_figure(f"{metric} by run", metric, curves)


def scatter_figure(
    title: str,
    xlabel: str,
    ylabel: str,
    groups: Mapping[str, Sequence[tuple[Any, float]]],
    *,
    line: bool = False,
) -> str:
    """Points per group (e.g. trials by state); ``line`` joins the first group's points in x
    order (the best value so far); categorical x values are placed in the order seen."""
    fig = new_figure(6.0, 3.6)
    ax = fig.add_subplot()
    seen = [x for points in groups.values() for x, _ in points]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in seen)
    categories = [] if numeric else list(dict.fromkeys(str(x) for x in seen))
    for index, (label, points) in enumerate(groups.items()):
        xs: list[Any] = [x if numeric else categories.index(str(x)) for x, _ in points]
        ys = [y for _, y in points]
        if line and index == 0:
            ax.plot(xs, ys, label=label, drawstyle="steps-post")
        else:
            ax.scatter(xs, ys, s=18, label=label)
    if categories:
        ax.set_xticks(range(len(categories)), categories)
    elif seen and all(isinstance(x, int) for x in seen):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # trials, units: no 0.5
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if groups:
        ax.legend(fontsize="small")
    return figure_svg(fig)


def heatmap_figure(labels: Sequence[str], counts: Sequence[Sequence[int]], title: str) -> str:
    """A confusion matrix: rows true, columns predicted, colour the share of the true class."""
    import numpy as np

    matrix = np.asarray(counts, dtype=np.float64)
    n = len(labels)
    totals = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    side = min(3.5 + 0.4 * n, 14.0)
    fig = new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="fraction of true class")
    if n <= 50:
        ax.set_xticks(
            range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center"
        )
        ax.set_yticks(range(n), labels)
    if n <= 20:
        for (i, j), count in np.ndenumerate(matrix):
            colour = "white" if fractions[i, j] > 0.5 else "black"
            ax.text(j, i, f"{int(count)}", ha="center", va="center", color=colour, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return figure_svg(fig)


def xy_figure(title: str, xlabel: str, ylabel: str, points: Points) -> str:
    """One curve on the unit square (ROC, precision-recall)."""
    fig = new_figure(4.4, 4.0)
    ax = fig.add_subplot()
    ax.plot([x for x, _ in points], [y for _, y in points])
    _unit_square(ax, title, xlabel, ylabel)
    return figure_svg(fig)


def _unit_square(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def reliability_figure(calibration: dict[str, Any]) -> str:
    """The reliability diagram of a ``plots/calibration*.json`` (as the run's PNG draws it)."""
    from dltrain.report.calibration import reliability_diagram

    return figure_svg(reliability_diagram(calibration, new_figure(4.6, 4.4)))
