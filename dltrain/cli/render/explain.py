"""``dltrain explain``'s output: the top rows, the checks with their verdicts, the folder."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from dltrain.engine.explain import ExplainResult

__all__ = ["render_explanation"]

_ROWS = 10


def render_explanation(console: Console, result: ExplainResult) -> None:
    """A short table, one line per check, the notes and ``written: <folder>``."""
    out = result.explanation
    console.print(
        f"{out.method} on {out.examples} of {out.split_size} {out.split} examples, "
        f"{out.checkpoint} ({out.settings.get('checkpoint_detail', '')}), seed {out.seed}",
        markup=False,
    )
    table = Table(title=out.summary_title, title_justify="left")
    table.add_column("", overflow="fold")
    table.add_column(out.value_label, justify="right")
    spread = any(row.spread is not None for row in out.summary)
    if spread:
        table.add_column("±", justify="right")
    table.add_column("", style="dim")
    for row in out.summary[:_ROWS]:
        cells = [row.name, f"{row.value:.4g}"]
        if spread:
            cells.append("" if row.spread is None else f"{row.spread:.2g}")
        cells.append(row.detail)
        table.add_row(*cells)
    console.print(table)
    if len(out.summary) > _ROWS:
        console.print(f"({len(out.summary) - _ROWS} more in the CSV)", style="dim", markup=False)
    for name, check in out.checks.items():
        console.print(f"{name}: {describe_check(name, check)}", markup=False)
    for note in out.notes:
        console.print(note, markup=False, style="dim")
    console.print(f"written: {result.folder}", markup=False, style="dim")


def describe_check(name: str, check: dict[str, Any]) -> str:
    """One line for a check of ``explain.json``."""
    verdict = "passed" if check.get("passed") else "FAILED"
    if name.startswith("completeness"):
        return (
            f"median relative gap {check['median_relative']:.2%} (max {check['max_relative']:.2%}),"
            f" {check['steps']} {check['rule']} steps, tolerance {check['tolerance']:.0%}: "
            f"{verdict}"
        )
    how = "pooled" if check.get("pooled") else "median per example"
    values = "signed" if check.get("signed") else "absolute"
    extra = f"; absolute values {check['spearman_abs']:+.3f}" if check.get("signed") else ""
    if check.get("constant"):
        extra += f"; {check['constant']} constant maps counted as 0"
    return (
        f"Spearman {check['spearman']:+.3f} ({values}, {how}) between trained and "
        f"shuffled-weights attributions{extra}, threshold |Spearman| < "
        f"{check['threshold']}: {verdict}"
    )
