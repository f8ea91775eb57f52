"""``report``: one offline HTML page for a run, a study or runs compared."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dltrain.cli import CurveMetricOption, app, make_console, reporting


@app.command()
def report(
    folders: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_OR_STUDY",
            help="A run folder, a study folder, or two or more run folders to compare.",
        ),
    ],
    output: Annotated[
        Optional[Path],  # noqa: UP045 - typer needs Optional here on Python 3.10
        typer.Option(
            "--output",
            "-o",
            metavar="FILE.html",
            help="Where to write the page (default: report.html in the run or study folder; "
            "a comparison: runs/compare-<time>.html).",
        ),
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the page in the default web browser.")
    ] = False,
    metric: CurveMetricOption = None,
) -> None:
    """One self-contained HTML page (works offline): a run's results, a study's trials, or
    runs side by side. Built from the folders' files; no model is loaded."""
    with reporting(tensorflow=False):
        from dltrain.cli.render.report import render_report_page
        from dltrain.engine.report import write_report_page

        page = write_report_page(folders, output, metric=metric)
        render_report_page(make_console(), page)
        if open_page:
            import webbrowser

            webbrowser.open(page.path.resolve().as_uri())
