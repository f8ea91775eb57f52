"""``check_tune``: everything about a ``tune:`` section that can fail, found before any trial.

Space keys must name config values; the ends of every range must give a valid config and a
model Keras can build (a dropout rate of 1.5 fails here, not in trial 17); the grid sampler
needs finite ranges; the metric must be one the run logs. Every problem is reported at its
place in the file, all together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from dltrain.config import LoadedConfig, did_you_mean
from dltrain.config.yaml_source import KeyPath
from dltrain.errors import ConfigError, DataError, Problem
from dltrain.tune.config_source import ConfigSource
from dltrain.tune.space import SpaceParam, end_values, grid_values, param_overrides, read_space

__all__ = ["TunePlan", "check_tune"]

# Sections whose values reach the model or its compilation: their ends are built with Keras.
_BUILT = frozenset({"model", "optimizer", "loss", "loss_weights", "metrics", "data", "precision"})


@dataclass(frozen=True)
class TunePlan:
    """A checked ``tune:`` section, ready to run."""

    params: list[SpaceParam]
    metric: str
    direction: Literal["minimize", "maximize"]
    logged: list[str]
    """Every metric a trial logs per epoch."""
    grid: dict[str, list[Any]] | None
    """With the grid sampler: every value of each parameter."""


def check_tune(loaded: LoadedConfig, source: ConfigSource | None = None) -> TunePlan:
    """Check a config's ``tune`` section against its experiment (builds models: imports Keras).

    Args:
        loaded: The config, with its ``tune`` section.
        source: Where it was loaded from (default: its file and overrides).

    Raises:
        ConfigError: every problem found, each at its file:line with "did you mean".
        DataError: the experiment's data cannot be read.
    """
    problems: list[Problem] = []
    params = read_space(loaded, problems)
    tune = loaded.config.tune
    assert tune is not None  # read_space raised otherwise
    grid: dict[str, list[Any]] | None = None
    if tune.sampler == "grid":
        grid = {}
        for param in params:
            values = grid_values(param)
            if values is None:
                problems.append(
                    loaded.problem(
                        param.where,
                        "the grid sampler needs a finite set of values: give this float range "
                        "a `step`, or use type: int or categorical",
                    )
                )
            else:
                grid[param.key] = values
    from dltrain.data.sharing import sharing_datasets

    source = source or ConfigSource(loaded.path or loaded.to_dict(), list(loaded.overrides))
    # The experiment's data is loaded once: the ends of ranges that leave it alone reuse it
    # (and so do the study's trials, when tune_study shares it for the whole study).
    with sharing_datasets():
        # The experiment itself must work before its variants.
        logged, model = _logged_metrics(loaded)
        for param in params:
            problems.extend(_check_ends(loaded, source, param))
    if tune.metric not in logged:
        problems.append(
            loaded.problem(
                ("tune", "metric"),
                f"metric {tune.metric!r} is never logged{did_you_mean(tune.metric, logged)}; "
                f"logged: {', '.join(logged)}",
            )
        )
    if problems:
        problems.sort(key=lambda p: (p.location.line if p.location else 0, p.path))
        where = loaded.path or "config"
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{where}: {count} in the tune section", problems)
    direction: Literal["minimize", "maximize"] = tune.direction or _keras_direction(
        loaded, model, tune.metric
    )
    return TunePlan(params, tune.metric, direction, logged, grid)


def _keras_direction(
    loaded: LoadedConfig, model: Any, metric: str
) -> Literal["minimize", "maximize"]:
    """Which way ``metric`` should go, as Keras's monitor callbacks decide ``mode: auto``."""
    from dltrain.train.monitors import resolve_mode

    with loaded.located():
        mode = resolve_mode(model, metric, "auto", ("tune", "direction"))
    return "maximize" if mode == "max" else "minimize"


def _check_ends(loaded: LoadedConfig, source: ConfigSource, param: SpaceParam) -> list[Problem]:
    """Problems of the configs at the ends of one parameter's range (one per end, or one for
    the parameter when every end fails the same way, as for a misspelled Keras argument)."""
    from dltrain.engine.check import inspect_config

    ends = end_values(param)
    failures: list[tuple[KeyPath, Any, str]] = []
    for where, value in ends:
        (override,) = param_overrides({param.key: value})
        try:
            variant = source.variant([override])
            if param.path[0] in _BUILT:
                inspect_config(variant)
        except (ConfigError, DataError) as exc:
            failures.append((where, value, _reason(exc)))
    if len(ends) > 1 and len(failures) == len(ends) and len({f[2] for f in failures}) == 1:
        return [loaded.problem(param.where, f"no value works here: {failures[0][2]}")]
    return [loaded.problem(w, f"{v!r} does not work here: {r}") for w, v, r in failures]


def _reason(exc: ConfigError | DataError) -> str:
    """The first problem of an error, with its key path but without its place."""
    first = exc.problems[0] if exc.problems else None
    if first is None:
        return exc.message
    return f"{first.path}: {first.message}" if first.path else first.message


def _logged_metrics(loaded: LoadedConfig) -> tuple[list[str], Any]:
    """The per-epoch metric names of a run of this config (one evaluated batch tells), and
    the compiled model that told them.

    Builds the experiment's own model first, so its problems are told at their lines.
    """
    from dltrain.config.precision import resolved_policy
    from dltrain.data import load_datasets
    from dltrain.model import build_model, compile_model
    from dltrain.train.environment import configure_environment

    cfg = loaded.config
    configure_environment(cfg.seed, False, resolved_policy(cfg))
    datasets = load_datasets(cfg, source=loaded.source)
    with loaded.located():
        model = build_model(cfg, datasets.spec)
        compile_model(model, cfg, datasets.spec)
    batch = datasets.test_dataset(min(datasets.batch_size, 64)).take(1)
    try:
        names = list(model.evaluate(batch, return_dict=True, verbose=0))
    except (ValueError, TypeError):
        names = ["loss"]  # outputs that do not fit the targets: the run reports it, located
    if datasets.validation_size > 0:
        names += [f"val_{name}" for name in names]
    return names, model
