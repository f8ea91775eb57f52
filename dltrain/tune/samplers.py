"""Optuna samplers and pruners by the names the ``tune:`` section uses."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from dltrain.errors import UsageError

__all__ = ["make_pruner", "make_sampler", "require_sampler"]


def require_sampler(name: str) -> None:
    """Fail at once, with the extra to install, when the sampler's package is missing.

    CMA-ES runs on the ``cmaes`` package, which comes with ``dltrain[cmaes]``; Optuna would
    only notice it missing when the sampler first samples, inside a trial.

    Raises:
        UsageError: ``cmaes`` asked for and not importable.
    """
    if name != "cmaes":
        return
    try:
        importlib.import_module("cmaes")
    except ImportError:
        raise UsageError(
            'tune.sampler: cmaes needs the cmaes package: pip install "dltrain[cmaes]"'
        ) from None


def make_sampler(name: str, seed: int, grid: dict[str, list[Any]] | None) -> Any:
    """``tpe``, ``random``, ``grid``, ``cmaes`` or ``qmc``, seeded.

    Raises:
        UsageError: the sampler's package is missing (:func:`require_sampler`).
    """
    import optuna

    require_sampler(name)
    if name == "grid":
        assert grid is not None  # check_tune built it
        return _grid_sampler(grid, seed)
    factories = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "qmc": optuna.samplers.QMCSampler,
    }
    with warnings.catch_warnings():
        # QMC and CMA-ES are marked experimental; that is Optuna's concern, not the user's.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return factories[name](seed=seed)


def make_pruner(name: str, epochs: int) -> Any:
    """``median`` (Optuna's defaults), ``hyperband`` (1 to ``epochs`` epochs) or ``none``."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    return optuna.pruners.NopPruner()


def _grid_sampler(grid: dict[str, list[Any]], seed: int) -> Any:
    """Optuna's grid sampler, without its ``study.stop()`` after the last grid point.

    ``Study.stop`` only works inside ``Study.optimize``; dltrain runs ask-and-tell and stops
    by itself once every grid point has been tried.
    """
    import optuna

    class GridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            """Nothing: see :func:`_grid_sampler`."""

    return GridSampler(grid, seed=seed)
