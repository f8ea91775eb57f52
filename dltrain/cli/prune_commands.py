"""``prune``: free the disk a finished run no longer needs (old resume points, leftovers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dltrain.cli import app, make_console, reporting


@app.command()
def prune(
    paths: Annotated[
        Optional[list[Path]],  # noqa: UP045 - typer needs Optional here on Python 3.10
        typer.Argument(
            metavar="RUNS_OR_RUN",
            help="Run folders, runs/NAME folders, a runs folder or study folders "
            "(default: ./runs).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed and freed; remove nothing.")
    ] = False,
    keep_best: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--keep-best",
            metavar="K",
            help="The folders are studies: only their K best trials keep checkpoints (the "
            "others keep run.json, metrics.csv and plots).",
        ),
    ] = None,
) -> None:
    """Remove completed runs' older resume points and leftovers; keep best/last.keras and the
    newest resume point (eval, predict, export, --resume --set training.epochs=N)."""
    with reporting(tensorflow=False):
        from dltrain.cli.render.prune import render_prune
        from dltrain.storage.prune import PruneResult, find_runs, prune_run
        from dltrain.tune.keep_best import prune_study

        results: list[PruneResult] = []
        for path in paths or [Path("runs")]:
            if keep_best is not None:
                results += prune_study(path, keep_best, dry_run=dry_run)
            else:
                results += [prune_run(run, dry_run=dry_run) for run in find_runs(path)]
        if render_prune(make_console(), results, dry_run=dry_run):
            raise typer.Exit(1)
