"""``dltrain report``'s output: where the page went and how big it is."""

from __future__ import annotations

from rich.console import Console

from dltrain.engine.report import ReportPage
from dltrain.utils.units import format_bytes

__all__ = ["render_report_page"]


def render_report_page(console: Console, page: ReportPage) -> None:
    """One line for the page; a study's adds how many trial pages it wrote beside it."""
    console.print(
        f"{page.kind} report: {page.path} ({format_bytes(page.size_bytes)})", markup=False
    )
    if page.trial_pages:
        console.print(
            f"trial pages: {len(page.trial_pages)} (report.html in each trial's run folder)",
            markup=False,
        )
