"""The ``dltrain`` command line: parse arguments, call one entry point, render the result.

TensorFlow, pydantic and the rest of the library are imported inside the commands, so that
``dltrain --help``, ``dltrain schema`` and config errors answer fast. This module holds the
app, the shared options and error rendering; the commands live beside it, one module per
group (config, training, saved models, run folders), registered in the order ``--help``
lists them.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from dltrain import __version__
from dltrain.cli.help import App

if TYPE_CHECKING:
    from dltrain.runtime.quiet import QuietOutput

app = App(
    name="dltrain",
    help="Train Keras models from YAML experiment files.",
    add_completion=True,  # dltrain --install-completion (bash, zsh, fish, PowerShell)
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _State:
    debug = False


state = _State()

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


CurveMetricOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional here on Python 3.10
    typer.Option(
        "--metric",
        metavar="COLUMN",
        help="The overlaid curve, a metrics.csv column (default: val_accuracy when every run "
        "has it, else val_loss).",
    ),
]
"""``compare`` and ``report``: which curve of the runs compared is overlaid."""


MlflowOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional here on Python 3.10
    typer.Option(
        "--mlflow",
        metavar="URI",
        help="MLflow tracking server (wins over tracking.mlflow.uri and MLFLOW_TRACKING_URI).",
    ),
]

ForceOption = Annotated[
    bool, typer.Option("--force", help="With --resume: accept config changes (recorded).")
]
CheckpointOption = Annotated[
    str,
    typer.Option("--checkpoint", metavar="best|last", help="The run's checkpoint: best or last."),
]
"""``eval``, ``predict``, ``export`` and ``explain``: which checkpoint of a run folder."""
SplitOption = Annotated[str, typer.Option("--split", help="test, validation or train.")]
"""``eval`` and ``explain``: which split of the run's data."""
TrustImportsOption = Annotated[
    bool,
    typer.Option(
        "--trust-imports",
        help="Import the run's plugin modules from where run.json recorded them (this runs "
        "their code; only for run folders you trust), if their SHA-256 still matches.",
    ),
]


def make_console() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped or captured output: wide tables stay whole instead of wrapping at 80.
        console.width = 160
    return console


def make_err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def reporting(tensorflow: bool = True, compiles: bool = False) -> Iterator[QuietOutput]:
    """Turn library errors into one message and an exit code (tracebacks only with --debug).

    Commands that may import TensorFlow route its native log and library warnings to log
    files for their duration (:class:`dltrain.runtime.quiet.QuietOutput`), so that its C++
    start-up notices do not drown the output; a command that makes a run folder moves them
    there. Commands that run a model (``compiles``) also get the CLI's XLA settings and
    compilation cache (:func:`dltrain.runtime.xla_cache.xla_environment`); the others never
    touch the cache. A cache folder that cannot be used turns the cache off for the command,
    with one warning.
    """
    from dltrain.errors import DltrainError
    from dltrain.runtime.quiet import QuietOutput
    from dltrain.runtime.xla_cache import CacheState, xla_environment

    try:
        with (
            QuietOutput(enabled=tensorflow and not state.debug) as quiet,
            xla_environment() if compiles else nullcontext(CacheState()) as cache,
        ):
            if cache.reason is not None:
                make_err_console().print(
                    f"warning: XLA compilation cache off for this command: {cache.unusable}: "
                    f"{cache.reason} (DLTRAIN_XLA_CACHE=off turns it off without this warning, "
                    "DLTRAIN_XLA_CACHE=DIR moves it)",
                    markup=False,
                    style="yellow",
                )
            yield quiet
    except DltrainError as exc:
        err = make_err_console()
        if state.debug:
            err.print(traceback.format_exc(), markup=False)
        err.print(f"error: {exc.render()}", markup=False, style="red")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        make_err_console().print("interrupted", markup=False)
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
    state.debug = debug


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - last resort: one line unless --debug
        if isinstance(exc, KeyboardInterrupt):
            sys.exit(130)
        if state.debug:
            raise
        sys.stderr.write(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "(this is a bug in dltrain; run with --debug for the traceback)\n"
        )
        sys.exit(1)


# Importing the command modules registers their commands on `app`, in --help order.
from dltrain.cli import config_commands, train_commands, saved_commands, runs_commands  # noqa: E402,F401,I001
from dltrain.cli import prune_commands  # noqa: E402,F401,I001
from dltrain.cli import report_commands  # noqa: E402,F401,I001
from dltrain.cli import explain_commands  # noqa: E402,F401,I001
