"""``run``, ``tune`` and ``sync``: training, searching, and uploading runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from dltrain.cli import (
    ForceOption,
    MlflowOption,
    RunsDirOption,
    SetOption,
    TrustImportsOption,
    app,
    make_console,
    make_err_console,
    reporting,
)


@app.command()
def run(
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(metavar="CONFIG", help="Experiment YAML file (omit with --resume)."),
    ] = None,
    set_: SetOption = None,
    name: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--name", help="Run name (default: the config's name)."),
    ] = None,
    runs_dir: RunsDirOption = None,
    resume: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--resume",
            help="Continue this interrupted or finished run folder (runs/NAME: its latest run).",
        ),
    ] = None,
    force: ForceOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final metrics.")] = False,
    mlflow: MlflowOption = None,
    trust_imports: TrustImportsOption = False,
    seeds: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--seeds",
            min=2,
            help="Run N times with seeds seed..seed+N-1 into one seeds-<time>/ folder: "
            "mean, std and 95% interval of the test metrics (seeds.json).",
        ),
    ] = None,
) -> None:
    """Train a model, evaluate it on the test split and write a run folder."""
    if mlflow is not None:
        # The same as --set tracking.mlflow.uri=URI: recorded in config.yaml, kept on --resume.
        set_ = [*(set_ or []), f"tracking.mlflow.uri={mlflow}"]
    with reporting(compiles=True) as output:
        from dltrain.errors import UsageError

        if config is None and resume is None:
            raise UsageError("give a CONFIG file, or --resume RUN_FOLDER")
        if config is not None and resume is not None:
            raise UsageError(
                "--resume uses the run's saved config.yaml; do not give a CONFIG file "
                "(extend with --set training.epochs=N)"
            )
        if seeds is not None and resume is not None:
            raise UsageError(
                "--seeds starts new runs; resume one seed's run folder with --resume alone"
            )
        from dltrain.cli.render.progress import make_progress
        from dltrain.cli.render.results import render_run_result
        from dltrain.engine.run import resume_experiment, run_experiment

        console = make_console()
        progress = make_progress(console, quiet=quiet)
        command = ["dltrain", *sys.argv[1:]]
        if resume is not None:
            resume = _latest_if_name(resume)
            result = resume_experiment(
                resume,
                overrides=set_ or [],
                force=force,
                progress=progress,
                command=command,
                on_run_folder=output.attach,
                trust_imports=trust_imports,
            )
        elif seeds is not None:
            assert config is not None
            from dltrain.cli.render.results import render_seeds
            from dltrain.engine.seeds import run_seeds

            group = run_seeds(
                config,
                seeds,
                set_ or [],
                name=name,
                runs_dir=runs_dir,
                progress=progress,
                command=command,
                on_seed=lambda i, n, s: console.print(f"seed {s} ({i}/{n})", markup=False),
                on_run_folder=output.attach,
            )
            render_seeds(console, group)
            if group.exit_code:
                raise typer.Exit(group.exit_code)
            return
        else:
            assert config is not None
            result = run_experiment(
                config,
                overrides=set_ or [],
                name=name,
                runs_dir=runs_dir,
                progress=progress,
                command=command,
                on_run_folder=output.attach,
            )
        render_run_result(console, result)
        _say_mlflow_run(result.run_dir)
        if result.exit_code:
            raise typer.Exit(result.exit_code)


def _say_mlflow_run(run_dir: Path) -> None:
    """The MLflow run a tracked run went to, last, so that it is easy to find (also --quiet)."""
    from dltrain.storage.manifest import MANIFEST, read_manifest

    if not (run_dir / MANIFEST).is_file():
        return  # a non-chief worker's temporary folder, already removed
    record = read_manifest(run_dir / MANIFEST).mlflow
    if record is not None:
        make_console().print(f"mlflow: {record.describe()}", markup=False)


def _latest_if_name(target: Path) -> Path:
    """``runs/NAME`` (a name's folder, no ``run.json``) -> its latest run, as eval takes it."""
    if not target.is_dir() or (target / "run.json").exists():
        return target
    from dltrain.report.listing import latest_run

    latest = latest_run(target)
    if latest is None:
        return target  # RunFolder.open says what is wrong with it
    make_err_console().print(f"using the latest run in {target}: {latest}", markup=False)
    return latest


@app.command()
def tune(
    config: Annotated[Path, typer.Argument(help="Experiment YAML file with a `tune:` section.")],
    trials: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--trials", "-n", help="Complete trials the study should have in total."),
    ] = None,
    timeout: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--timeout", help="Seconds after which no new trial starts."),
    ] = None,
    study: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--study", help="Study name (default: the config's name)."),
    ] = None,
    storage: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--storage",
            help="SQLAlchemy URL of a shared study, e.g. postgresql://user:pw@host/db "
            "(default: SQLite in the study folder).",
        ),
    ] = None,
    set_: SetOption = None,
    runs_dir: RunsDirOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary.")] = False,
) -> None:
    """Search hyperparameters with Optuna; each trial is a run folder of the study."""
    with reporting(compiles=True):
        from dltrain.cli.render.tune import make_tune_progress, render_study_summary
        from dltrain.tune import tune_study

        console = make_console()
        summary = tune_study(
            config,
            overrides=set_ or [],
            trials=trials,
            timeout=timeout,
            study=study,
            storage=storage,
            runs_dir=runs_dir,
            progress=make_tune_progress(console, quiet=quiet),
            command=["dltrain", *sys.argv[1:]],
        )
        render_study_summary(console, summary)
        if summary.exit_code:
            raise typer.Exit(summary.exit_code)


@app.command()
def sync(
    run_dirs: Annotated[list[Path], typer.Argument(metavar="RUN", help="Run folders to upload.")],
    mlflow: MlflowOption = None,
    experiment: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--experiment", help="MLflow experiment (default: the run's config)."),
    ] = None,
) -> None:
    """Upload run folders to an MLflow server; again updates the same MLflow run."""
    with reporting(tensorflow=False):
        from dltrain.tracking import sync_run

        console = make_console()
        for run_dir in run_dirs:
            result = sync_run(run_dir, mlflow, experiment=experiment)
            verb = "uploaded" if result.created else "updated"
            console.print(
                f"{verb}: {result.run_dir} -> {result.uri} run {result.run_id} ({result.status})",
                markup=False,
            )
            if result.url is not None:
                console.print(f"  {result.url}", markup=False)
