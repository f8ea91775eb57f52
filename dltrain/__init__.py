"""dltrain: train Keras models from YAML experiment files.

The Python API mirrors the CLI::

    import dltrain
    result = dltrain.run("configs/mnist_mlp.yaml", overrides=["training.epochs=1"])
    result.run_dir, result.test_metrics
    study = dltrain.tune("configs/tune/csv_regression.yaml", trials=5)
    study.best, study.best_yaml
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dltrain.version import __version__

__all__ = ["__version__", "register_dataset", "run", "tune"]

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dltrain.engine.run import RunResult
    from dltrain.tune import StudySummary

_Loader = TypeVar("_Loader", bound=Callable[..., Any])


def run(
    config: str | Path,
    overrides: Sequence[str] = (),
    *,
    progress: bool = False,
    quiet: bool = True,
    **kwargs: Any,
) -> RunResult:
    """Train from a config file; see :func:`dltrain.engine.run.run_experiment` for ``kwargs``.

    Args:
        config: The experiment YAML file.
        overrides: ``key.path=value`` strings, as ``--set`` takes them.
        progress: Print one line per epoch (and warnings) to standard output.
        quiet: Keep TensorFlow's native log lines and library warnings out of the output
            while the run lasts (they go to ``logs/`` in the run folder, as with the CLI).
            Everything changed for that is put back when the call returns.
    """
    from rich.console import Console

    from dltrain.cli.render.progress import LineProgress
    from dltrain.engine.run import run_experiment
    from dltrain.runtime.quiet import QuietOutput

    with QuietOutput(enabled=quiet) as output:
        return run_experiment(
            Path(config),
            overrides,
            progress=LineProgress(Console(highlight=False)) if progress else None,
            on_run_folder=output.attach,
            **kwargs,
        )


def register_dataset(kind: str, *, config: type[BaseModel]) -> Callable[[_Loader], _Loader]:
    """Register a ``data.kind`` loader (see :func:`dltrain.plugins.register_dataset`)."""
    from dltrain.plugins import register_dataset as register

    return register(kind, config=config)


# The package dltrain.tune shares its name with the function below. Python sets
# `dltrain.tune` to the package when the package is first imported; importing it (cheaply)
# here, before the function is defined, makes `dltrain.tune` the function for good.
importlib.import_module("dltrain.tune")


def tune(
    config: Any, overrides: list[str] | None = None, trials: int | None = None, **kwargs: Any
) -> StudySummary:
    """Search a config's ``tune:`` space (see :func:`dltrain.tune.tune_study`).

    Returns the study summary: counts by state, the best trial and ``best.yaml``.
    """
    from dltrain.tune import tune_study

    return tune_study(config, overrides=overrides or [], trials=trials, **kwargs)
