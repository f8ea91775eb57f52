"""Terminal output of ``dltrain benchmark``: the table, the reasons, the recommendation."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from dltrain.export.bench_table import BenchRow
from dltrain.export.benchmark import Benchmark
from dltrain.utils.units import format_bytes

__all__ = ["render_benchmark"]

_STYLE = {"verified": "green", "beyond tolerance": "yellow", "unsupported": "dim"}


def _num(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _metric(row: BenchRow) -> str:
    if row.value is None:
        return ""
    change = "" if row.change is None or row.status == "reference" else f" ({row.change:+.4f})"
    return f"{row.value:.4f}{change}"


def render_benchmark(console: Console, bench: Benchmark) -> None:
    """Print the table, why rows failed, where it was written, and one recommendation."""
    for note in bench.notes:
        console.print(note, markup=False, style="dim")
    metric = next((r.metric for r in bench.rows if r.metric), "metric")
    examples = f", {bench.examples} examples" if bench.examples else ""
    table = Table(title=f"{bench.checkpoint} on the test split{examples}", title_justify="left")
    for name, justify in (
        ("format", "left"),
        ("quant.", "left"),
        ("status", "left"),
        ("size", "right"),
        (f"{metric} (change)", "right"),
        ("max diff", "right"),
        ("ms/ex b1", "right"),
        ("ms/ex b256", "right"),
        ("runtime", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in bench.rows:
        table.add_row(
            row.format,
            row.quantization,
            row.status + (" (reused)" if row.reused else ""),
            "" if row.size_bytes is None else format_bytes(row.size_bytes),
            _metric(row),
            _num(row.max_abs_diff, ".2g"),
            _num(row.latency_ms_b1, ".4f"),
            _num(row.latency_ms_b256, ".4f"),
            row.runtime,
            style=_STYLE.get(row.status),
        )
    console.print(table)
    for row in bench.rows:
        if row.why:
            quant = "" if row.quantization == "none" else f" {row.quantization}"
            console.print(f"{row.format}{quant}: {row.why}", markup=False, style="dim")
    console.print(f"written: {bench.csv_path}, {bench.json_path.name}", markup=False)
    console.print(bench.recommendation, markup=False, style="bold")
