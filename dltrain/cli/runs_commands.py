"""``runs``, ``compare`` and ``launch``: run folders side by side, and local workers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dltrain.cli import (
    RunsDirOption,
    SetOption,
    TrustImportsOption,
    app,
    make_console,
    make_err_console,
    reporting,
)


@app.command()
def runs(
    directory: Annotated[
        Path,
        typer.Argument(
            metavar="RUNS_DIR", help="Runs folder, one name's folder (runs/NAME) or one run folder."
        ),
    ] = Path("runs"),
) -> None:
    """List runs: name, data, status, epochs, best val and test metric, duration, description."""
    with reporting(tensorflow=False):
        from dltrain.cli.render.results import render_runs_table
        from dltrain.report.listing import list_runs

        render_runs_table(make_console(), list_runs(directory))


@app.command()
def compare(
    run_dirs: Annotated[
        list[Path], typer.Argument(metavar="RUN", help="Run folders (two or more).")
    ],
    plot: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--plot", help="Where to write the overlay plot (PNG)."),
    ] = None,
) -> None:
    """Config differences and final metrics of runs side by side, and their val curves."""
    with reporting(tensorflow=False):
        from dltrain.cli.render.results import render_comparison
        from dltrain.report.listing import compare_runs

        render_comparison(make_console(), compare_runs(run_dirs, plot_path=plot))


@app.command()
def launch(
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(metavar="CONFIG", help="Experiment YAML file (omit with --resume)."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", "-n", help="Local worker processes.")] = 2,
    set_: SetOption = None,
    runs_dir: RunsDirOption = None,
    resume: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--resume", help="Continue this multi-worker run folder."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="With --resume: accept config changes (recorded). Also: start more workers "
            "than CPU cores.",
        ),
    ] = False,
    max_restarts: Annotated[
        int,
        typer.Option(
            "--max-restarts",
            help="Restart the job from the last completed epoch when a worker dies, this often.",
        ),
    ] = 0,
    trust_imports: TrustImportsOption = False,
) -> None:
    """Train with N local workers (multi-worker strategy, generated TF_CONFIG)."""
    with reporting(tensorflow=False):
        import shlex

        from dltrain.engine.launch import launch_workers

        err = make_err_console()
        result = launch_workers(
            config,
            workers,
            set_ or [],
            runs_dir=runs_dir,
            resume=resume,
            force=force,
            max_restarts=max_restarts,
            report=lambda text: err.print(f"launch: {text}", markup=False),
            trust_imports=trust_imports,
        )
        if result.interrupted is not None:
            again = (
                f"; resume with: dltrain launch --workers {workers} --resume "
                f"{shlex.quote(str(result.run_dir))}"
                if result.run_dir is not None
                else ""
            )
            logs = f"; worker logs: {result.logs}" if result.logs else ""
            err.print(
                f"launch: stopped by {result.interrupted}; the workers were stopped "
                f"(exit codes {result.exit_codes}){logs}{again}",
                markup=False,
            )
            raise typer.Exit(result.exit_code)
        if result.exit_code:
            where = f"; worker logs: {result.logs}" if result.logs else ""
            err.print(f"a worker failed (exit codes {result.exit_codes}){where}", markup=False)
            if result.lost is not None and result.run_dir is not None:
                again = shlex.quote(str(result.run_dir))
                err.print(
                    f"resume with: dltrain launch --workers {workers} --resume {again}",
                    markup=False,
                )
            raise typer.Exit(result.exit_code)
