"""Terminal output of ``dltrain export``: sizes, the comparison with Keras, and latency."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dltrain.export.record import ExportResult
from dltrain.utils.units import format_bytes

__all__ = ["render_export"]


def render_export(console: Console, result: ExportResult) -> None:
    """Print what was written and how it compared with the Keras model."""
    quantize = "" if result.quantize == "none" else f", {result.quantize} quantization"
    console.print(f"exported {result.format}{quantize}: {result.path}", markup=False)
    for note in result.notes:
        console.print(note, markup=False, style="yellow")
    console.print(
        f"size: {format_bytes(result.size_bytes)} "
        f"(Keras checkpoint: {format_bytes(result.keras_size_bytes)})",
        markup=False,
    )
    check = result.verification
    if check is None:
        console.print("not verified (--no-verify)", markup=False, style="yellow")
    else:
        table = Table(title=f"test split ({check.examples} examples)", title_justify="left")
        table.add_column("")
        table.add_column("keras", justify="right")
        table.add_column(result.format, justify="right")
        for name, value in check.keras_metrics.items():
            table.add_row(name, f"{value:.4f}", f"{check.export_metrics[name]:.4f}")
        latency = result.latency_ms or {}
        for batch in latency.get("keras", {}):
            table.add_row(
                f"ms/example, {batch.replace('_', ' ')}",
                f"{latency['keras'][batch]:.4f}",
                f"{latency['export'][batch]:.4f}",
            )
        console.print(table)
        if result.latency_ms is None:
            console.print("latency not measured (--no-latency)", markup=False, style="dim")
        console.print(f"largest output difference: {check.max_abs_diff:.3g}", markup=False)
        cal = result.calibration
        if cal is not None:
            where = cal.get("file") or f"{cal.get('split')} split"
            console.print(f"calibrated on {cal['examples']} examples ({where})", markup=False)
        if check.verified:
            console.print("verified", style="green")
        for failure in check.failures:
            console.print(Text(f"unverified: {failure}", style="red"))
    console.print(f"written: {result.record_path}", markup=False, style="dim")
