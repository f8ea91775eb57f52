"""The plot of ``dltrain eval --attack``: a model's score against the attack's epsilon."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dltrain.report.plots import new_figure, save_png

__all__ = ["write_attack_plot"]


def write_attack_plot(
    path: Path,
    epsilons: Sequence[float],
    values: Sequence[float],
    *,
    metric: str,
    title: str,
) -> Path:
    """Draw ``metric`` against epsilon (0 = clean, marked) and write it atomically to ``path``.

    Raises:
        DiskFullError, RunFolderError: the file cannot be written (see ``save_png``).
    """
    fig = new_figure(6.0, 4.2)
    ax = fig.add_subplot()
    ax.plot(epsilons, values, marker="o")
    for eps, value in zip(epsilons, values, strict=True):
        ax.annotate(f"{value:.3g}", (eps, value), textcoords="offset points", xytext=(4, 4))
    if epsilons and epsilons[0] == 0:
        ax.axhline(values[0], color="tab:gray", linestyle=":", label=f"clean {metric}")
        ax.legend()
    if metric == "accuracy":
        ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.set_xlabel("epsilon (largest change of any input value, raw units)")
    ax.set_ylabel(f"{metric} under attack")
    ax.grid(True, alpha=0.3)
    return save_png(fig, path)
