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
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "run", "tune"]

if TYPE_CHECKING:
    from dltrain.runner import RunResult
    from dltrain.tune import StudySummary


def run(config: Any, overrides: list[str] | None = None, **kwargs: Any) -> RunResult:
    """Train from a config path or mapping (see :func:`dltrain.runner.run_experiment`)."""
    from dltrain.runner import run_experiment

    return run_experiment(config, overrides=overrides or [], **kwargs)


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
