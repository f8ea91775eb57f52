"""``dltrain eval --attack``: one row per epsilon, each metric a column."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dltrain.cli.render.results import format_column
from dltrain.engine.attack import AttackResult

__all__ = ["render_attack"]


def render_attack(console: Console, result: AttackResult) -> None:
    """The metrics under attack per epsilon (0: clean), and the largest change made."""
    names = list(result.rows[0].metrics)
    table = Table(
        title=f"{result.split} metrics under {result.method.upper()} "
        f"({result.examples} examples; epsilon in raw input units)",
        title_justify="left",
    )
    table.add_column("epsilon", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("max change", justify="right")
    columns = [format_column([r.metrics[n] for r in result.rows]) for n in names]
    for i, row in enumerate(result.rows):
        cells = [f"{row.epsilon:g}", *(c[i] for c in columns), f"{row.max_change:.4g}"]
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
