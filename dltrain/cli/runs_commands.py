"""``runs``, ``compare`` and ``launch``: run folders side by side, and local workers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from dltrain.cli import (
    CurveMetricOption,
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
            metavar="RUNS_DIR",
            help="Runs folder, one name's folder (runs/NAME), one run folder, or a study's "
            "folder (runs/NAME/STUDY: its trials).",
        ),
    ] = Path("runs"),
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Every column: run folder, data, description, path, all parameters."
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="A JSON list of the rows (keys: docs/tuning.md, 'Listing runs and studies').",
        ),
    ] = False,
    sort: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--sort",
            metavar="KEY",
            help="Sort by KEY (started, name, status, best, test, duration, ...; in a study "
            "also trial, value, params.KEY); ascending, -KEY descending. Default: newest "
            "first (trials by number).",
        ),
    ] = None,
    desc: Annotated[bool, typer.Option("--desc", help="With --sort: descending.")] = False,
    filters: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--filter",
            metavar="KEY=GLOB",
            help="Keep rows where KEY matches (status=completed, name='mnist*'); also KEY!=GLOB "
            "and KEY>X, >=, <, <= (test>0.9). Repeat: all must hold.",
        ),
    ] = None,
) -> None:
    """List runs (name, start, status, epochs, best and test metric, time) and studies."""
    with reporting(tensorflow=False):
        import json

        from dltrain.runtime.quiet import remove_orphaned_logs

        remove_orphaned_logs()  # a killed process's native log in /tmp: no run will move it

        from dltrain.cli.render.listing import (
            render_runs_table,
            render_studies_table,
            render_study,
        )
        from dltrain.report.listing import list_runs
        from dltrain.report.run_query import RUN_KEYS, run_record, select_rows
        from dltrain.report.study_listing import (
            STUDY_KEYS,
            is_study_folder,
            list_studies,
            read_study,
            study_record,
            trial_keys,
            trial_record,
        )

        console = make_console()
        records: list[dict[str, object]]
        if directory.is_dir() and is_study_folder(directory):
            view = read_study(directory)
            view.trials = select_rows(
                view.trials,
                trial_record,
                trial_keys(view),
                filters=filters or [],
                sort=sort,
                descending=desc,
            )
            if not as_json:
                render_study(console, view, wide=wide)
                return
            records = [trial_record(t) for t in view.trials]
        else:
            # One set of keys for both tables: a row without a key (a run's metric, a
            # study's data) passes no filter on it and sorts last.
            keys = (*RUN_KEYS, *(k for k in STUDY_KEYS if k not in RUN_KEYS))

            def select(rows: Any, record: Any) -> Any:
                return select_rows(
                    rows, record, keys, filters=filters or [], sort=sort, descending=desc
                )

            listed = select(list_runs(directory), run_record)
            studies = select(list_studies(directory), study_record)
            if not as_json:
                if listed or not studies:
                    render_runs_table(console, listed, wide=wide)
                render_studies_table(console, studies, directory, wide=wide)
                return
            records = [*map(run_record, listed), *map(study_record, studies)]
        console.out(json.dumps(records, indent=2), highlight=False)


@app.command()
def compare(
    run_dirs: Annotated[
        list[Path], typer.Argument(metavar="RUN", help="Run folders (two or more).")
    ],
    plot: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--plot", help="Where to write the overlay plot (PNG)."),
    ] = None,
    metric: CurveMetricOption = None,
) -> None:
    """Config differences and final metrics of runs side by side, and their val curves.

    Given two `run --seeds` group folders instead, it says for each test metric whether the
    difference between the groups is larger than the seed noise (Welch's t-test).
    """
    with reporting(tensorflow=False):
        from dltrain.report.seed_compare import is_seed_group

        if any(is_seed_group(path) for path in run_dirs):
            from dltrain.cli.render.results import render_group_comparison
            from dltrain.report.seed_compare import compare_groups

            _check_group_compare(run_dirs, plot, metric)
            render_group_comparison(make_console(), compare_groups(run_dirs[0], run_dirs[1]))
            return
        from dltrain.cli.render.results import render_comparison
        from dltrain.report.listing import compare_runs

        render_comparison(make_console(), compare_runs(run_dirs, plot_path=plot, metric=metric))


def _check_group_compare(run_dirs: list[Path], plot: Path | None, metric: str | None) -> None:
    from dltrain.errors import UsageError

    if len(run_dirs) != 2:
        raise UsageError(
            f"compare takes exactly two seeds group folders. Received: {len(run_dirs)} "
            f"({', '.join(str(p) for p in run_dirs)})"
        )
    if plot is not None or metric is not None:
        raise UsageError("--plot and --metric apply to run folders, not to seeds groups")


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
