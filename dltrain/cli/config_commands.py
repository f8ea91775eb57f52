"""``check`` and ``schema``: a config before any training."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from dltrain.cli import SetOption, app, make_console, reporting


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
    with reporting():
        from dltrain.config import load_config

        loaded = load_config(config, set_ or [])
        from dltrain.cli.render.results import render_model_summary
        from dltrain.engine.check import check_config
        from dltrain.tune import check_tune

        # Tracking, data, model and tune are checked independently; all problems at once.
        result = check_config(loaded, check_tune)
        console = make_console()
        if show_config:
            console.print(f"# {config} (resolved)", markup=False, style="dim")
            console.print(loaded.to_yaml(), markup=False)
        render_model_summary(console, result.summary)
        if result.data:
            console.print(result.data, markup=False)
        if result.precision:
            console.print(result.precision, markup=False)
        for line in [*(result.init_from or []), *(result.distill or [])]:
            console.print(line, markup=False)
        for line in result.methodology or []:
            console.print(line, markup=False, style="yellow")
        if result.tune is not None:
            plan = result.tune
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
    with reporting():
        from dltrain.config.reference import json_schema_text
        from dltrain.plugins import import_plugins, load_entry_points

        load_entry_points()
        import_plugins(imports or [], [Path.cwd()])
        text = json_schema_text()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
