"""The ``dltrain`` command line: parse arguments, call one entry point, render the result.

TensorFlow, pydantic and the rest of the library are imported inside the commands, so that
``dltrain --help``, ``dltrain schema`` and config errors answer fast.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from dltrain import __version__
from dltrain.cli_help import App

if TYPE_CHECKING:
    from dltrain.quiet import QuietOutput

app = App(
    name="dltrain",
    help="Train Keras models from YAML experiment files.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _State:
    debug = False


_state = _State()

SetOption = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional here on Python 3.10
    typer.Option(
        "--set",
        "-s",
        metavar="KEY.PATH=VALUE",
        help="Override a config value (YAML-typed), e.g. training.epochs=3. Repeatable.",
    ),
]


RunsDirOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional here on Python 3.10
    typer.Option("--runs-dir", help="Folder for run folders (default: ./runs)."),
]


MlflowOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional here on Python 3.10
    typer.Option(
        "--mlflow",
        metavar="URI",
        help="MLflow tracking server (wins over tracking.mlflow.uri and MLFLOW_TRACKING_URI).",
    ),
]


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped or captured output: wide tables stay whole instead of wrapping at 80.
        console.width = 160
    return console


def _err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def _reporting(tensorflow: bool = True) -> Iterator[QuietOutput]:
    """Turn library errors into one message and an exit code (tracebacks only with --debug).

    Commands that may import TensorFlow route its native log and library warnings to log
    files for their duration (:class:`dltrain.quiet.QuietOutput`), so that its C++ start-up
    notices do not drown the output; a command that makes a run folder moves them there.
    """
    from dltrain.errors import DltrainError
    from dltrain.quiet import QuietOutput

    try:
        with QuietOutput(enabled=tensorflow and not _state.debug) as quiet:
            yield quiet
    except DltrainError as exc:
        err = _err_console()
        if _state.debug:
            err.print(traceback.format_exc(), markup=False)
        err.print(f"error: {exc.render()}", markup=False, style="red")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _err_console().print("interrupted", markup=False)
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dltrain {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show tracebacks and TensorFlow's own log output."),
    ] = False,
) -> None:
    """Train Keras models from YAML experiment files."""
    _state.debug = debug


@app.command()
def check(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="Experiment YAML file.")],
    set_: SetOption = None,
    show_config: Annotated[
        bool,
        typer.Option(
            "--config/--no-config", help="Print the resolved config once every check passed."
        ),
    ] = True,
) -> None:
    """Validate a config, find its data, build its model and show layer shapes, without training.

    Problems are printed alone; the resolved config follows only when all checks pass.
    """
    with _reporting():
        from dltrain.config import load_config

        loaded = load_config(config, set_ or [])
        from dltrain.tracking import check_tracking

        check_tracking(loaded)  # a tracking section needs a server and the mlflow extra
        from dltrain.checking import inspect_config, locate_data
        from dltrain.render import render_model_summary

        found = locate_data(loaded)
        summary = inspect_config(loaded)
        console = _console()
        if show_config:
            console.print(f"# {config} (resolved)", markup=False, style="dim")
            console.print(loaded.to_yaml(), markup=False)
        render_model_summary(console, summary)
        if found:
            console.print(found, markup=False)
        if loaded.config.tune is not None:
            from dltrain.tune import check_tune

            plan = check_tune(loaded)
            console.print(
                f"tune: {len(plan.params)} parameters, {plan.direction} {plan.metric}",
                markup=False,
            )
        console.print("config OK", style="green")


@app.command()
def schema(
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Write to this file instead of stdout."),
    ] = None,
    imports: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--import",
            help="Import this plugin module first (repeatable; looked up in the current "
            "folder, then sys.path), so its dataset kinds are in the schema.",
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of the config (for editor completion)."""
    # Plugins may import Keras: its native start-up notices go to a log, as for `run`.
    with _reporting():
        from dltrain.config.reference import json_schema_text
        from dltrain.plugins import import_plugins, load_entry_points

        load_entry_points()
        import_plugins(imports or [], [Path.cwd()])
        text = json_schema_text()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


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
        typer.Option("--resume", help="Continue this interrupted or finished run folder."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="With --resume: accept config changes (recorded).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final metrics.")] = False,
    mlflow: MlflowOption = None,
) -> None:
    """Train a model, evaluate it on the test split and write a run folder."""
    if mlflow is not None:
        # The same as --set tracking.mlflow.uri=URI: recorded in config.yaml, kept on --resume.
        set_ = [*(set_ or []), f"tracking.mlflow.uri={mlflow}"]
    with _reporting() as output:
        from dltrain.errors import UsageError

        if config is None and resume is None:
            raise UsageError("give a CONFIG file, or --resume RUN_FOLDER")
        if config is not None and resume is not None:
            raise UsageError(
                "--resume uses the run's saved config.yaml; do not give a CONFIG file "
                "(extend with --set training.epochs=N)"
            )
        from dltrain.progress import make_progress
        from dltrain.render import render_run_result
        from dltrain.runner import resume_experiment, run_experiment

        console = _console()
        progress = make_progress(console, quiet=quiet)
        command = ["dltrain", *sys.argv[1:]]
        if resume is not None:
            result = resume_experiment(
                resume,
                overrides=set_ or [],
                force=force,
                progress=progress,
                command=command,
                on_run_folder=output.attach,
            )
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
        if result.exit_code:
            raise typer.Exit(result.exit_code)


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
    with _reporting():
        from dltrain.tune import tune_study
        from dltrain.tune.display import make_tune_progress, render_study_summary

        console = _console()
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
    run_dirs: Annotated[
        list[Path], typer.Argument(metavar="RUN", help="Run folders to upload.")
    ],
    mlflow: MlflowOption = None,
    experiment: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--experiment", help="MLflow experiment (default: the run's config)."),
    ] = None,
) -> None:
    """Upload run folders to an MLflow server; again updates the same MLflow run."""
    with _reporting(tensorflow=False):
        from dltrain.tracking import sync_run

        console = _console()
        for run_dir in run_dirs:
            result = sync_run(run_dir, mlflow, experiment=experiment)
            verb = "uploaded" if result.created else "updated"
            console.print(
                f"{verb}: {result.run_dir} -> {result.uri} run {result.run_id} "
                f"({result.status})",
                markup=False,
            )


_TARGET_HELP = (
    "A run folder (runs/NAME/STAMP), a name's folder (runs/NAME: its latest run), or a .keras "
    "checkpoint inside a run folder; a .keras file on its own lacks the run's data settings."
)


_INPUT_HELP = (
    "CSV file, or MNIST-format .npz, IDX folder (both: their test split) or IDX images file."
)


@app.command("eval")
def eval_(
    target: Annotated[Path, typer.Argument(metavar="RUN", help=_TARGET_HELP)],
    split: Annotated[str, typer.Option("--split", help="test, validation or train.")] = "test",
    data: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--data",
            help="Evaluate on this file instead of the test split (same format/columns); "
            "the result is named after the file.",
        ),
    ] = None,
    checkpoint: Annotated[
        str, typer.Option("--checkpoint", help="best or last (run folders).")
    ] = "best",
) -> None:
    """Evaluate a saved model on the data its config names (or another file)."""
    with _reporting():
        from dltrain.evaluate import evaluate_target
        from dltrain.render import render_metrics

        result = evaluate_target(target, split=split, data=data, checkpoint=checkpoint)
        console = _console()
        if result.note:
            _err_console().print(result.note, markup=False)
        title = f"{result.label} metrics" if data is None else f"metrics on {result.label}"
        render_metrics(console, result.metrics, title=title)
        if result.written is not None:
            console.print(f"written: {result.written}", markup=False, style="dim")


@app.command()
def predict(
    target: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_OR_EXPORT", help=_TARGET_HELP + " Or a model written by dltrain export."
        ),
    ],
    input_: Annotated[Path, typer.Argument(metavar="INPUT", help=_INPUT_HELP)],
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Output CSV (default: stdout)."),
    ] = None,
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="best or last.")] = "best",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --output file.")
    ] = False,
) -> None:
    """Write predictions for a CSV or MNIST-format file as CSV.

    --output never goes into a run folder or over the input, and replaces an existing file
    only with --overwrite.
    """
    with _reporting():
        from dltrain.output_file import check_output_file, write_output_file

        if output is not None:
            check_output_file(output, inputs=[input_, target], overwrite=overwrite)
        from dltrain.predict import predict_file

        result = predict_file(target, input_, checkpoint=checkpoint)
        err = _err_console()
        for note in result.notes:
            err.print(note, markup=False)
        if output is None:
            sys.stdout.write(result.text)
        else:
            write_output_file(output, result.text)
            err.print(f"written: {output} ({result.count} predictions)", markup=False)


@app.command()
def export(
    target: Annotated[Path, typer.Argument(help="A run folder or a .keras checkpoint.")],
    format_: Annotated[
        str, typer.Option("--format", "-f", help="saved_model, tflite or onnx.")
    ],
    quantize: Annotated[
        str, typer.Option("--quantize", help="none; tflite: dynamic, float16 or int8.")
    ] = "none",
    checkpoint: Annotated[str, typer.Option("--checkpoint", help="best or last.")] = "best",
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--output", "-o", help="Artifact path (default: RUN/export/...)."),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check it against the Keras model.")
    ] = True,
) -> None:
    """Export a model taking raw inputs, verified against the Keras model on the test split."""
    with _reporting():
        from dltrain.export import export_run
        from dltrain.export.render import render_export

        result = export_run(
            target,
            fmt=format_,
            quantize=quantize,
            checkpoint=checkpoint,
            output=output,
            verify=verify,
        )
        render_export(_console(), result)
        if result.verified is False:
            raise typer.Exit(1)


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
    with _reporting(tensorflow=False):
        from dltrain.render import render_runs_table
        from dltrain.report.listing import list_runs

        render_runs_table(_console(), list_runs(directory))


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
    with _reporting(tensorflow=False):
        from dltrain.render import render_comparison
        from dltrain.report.listing import compare_runs

        render_comparison(_console(), compare_runs(run_dirs, plot_path=plot))


@app.command()
def launch(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="Experiment YAML file.")],
    workers: Annotated[int, typer.Option("--workers", "-n", help="Local worker processes.")] = 2,
    set_: SetOption = None,
    runs_dir: RunsDirOption = None,
) -> None:
    """Train with N local workers (multi-worker strategy, generated TF_CONFIG)."""
    with _reporting(tensorflow=False):
        from dltrain.launch import launch_workers

        args = [arg for item in (set_ or []) for arg in ("--set", item)]
        if runs_dir is not None:
            args += ["--runs-dir", str(runs_dir)]
        result = launch_workers(config, workers, args)
        if result.exit_code:
            where = f"; worker logs: {result.logs}" if result.logs else ""
            _err_console().print(
                f"a worker failed (exit codes {result.exit_codes}){where}", markup=False
            )
            raise typer.Exit(result.exit_code)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - last resort: one line unless --debug
        if isinstance(exc, KeyboardInterrupt):
            sys.exit(130)
        if _state.debug:
            raise
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "(this is a bug in dltrain; run with --debug for the traceback)\n"
        )
        sys.exit(1)
