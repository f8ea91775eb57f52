"""The search space: key paths checked against the experiment, and values turned into ``--set``.

Each ``tune.space`` key is a ``--set`` key path. A trial applies its values exactly as
``--set`` would (:func:`param_overrides`), so a trial's ``run.json`` lists them under
``overrides`` and ``dltrain run CONFIG --set ...`` repeats it.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel

from dltrain.config import LoadedConfig, did_you_mean
from dltrain.config.overrides import parse_key_path
from dltrain.config.schema import LayerSpec
from dltrain.config.tune_schema import CategoricalParam, FloatParam, IntParam, TuneConfig
from dltrain.config.yaml_source import KeyPath, format_path
from dltrain.errors import ConfigError, Problem

__all__ = [
    "SpaceParam",
    "end_values",
    "grid_values",
    "param_overrides",
    "read_space",
    "suggest_params",
]

Spec = FloatParam | IntParam | CategoricalParam


@dataclass(frozen=True)
class SpaceParam:
    """One searched value: its ``--set`` key, the parsed path, and its range."""

    key: str
    path: KeyPath
    spec: Spec

    @property
    def where(self) -> KeyPath:
        """Where the parameter is written in the config (for error locations)."""
        return ("tune", "space", self.key)


def read_space(loaded: LoadedConfig, problems: list[Problem] | None = None) -> list[SpaceParam]:
    """The ``tune.space`` parameters, each key checked to name a value of this config.

    Args:
        loaded: The config, with its ``tune`` section.
        problems: Where to add the problems found (and return the good parameters); by
            default they are raised.

    Raises:
        ConfigError: without ``problems``: every key that is not a key path, or names nothing
            in the config, located at the key with "did you mean".
    """
    tune = _tune(loaded)
    params: list[SpaceParam] = []
    collect = problems is not None
    problems = problems if problems is not None else []
    for key, spec in tune.space.items():
        where = ("tune", "space", key)
        try:
            path = parse_key_path(key)
        except ValueError as exc:
            problems.append(loaded.problem(where, str(exc)))
            continue
        if path[0] == "tune" or path == ("name",):
            problems.append(loaded.problem(where, f"{key!r} cannot be searched"))
            continue
        missing = _missing(loaded.config, path)
        if missing is not None:
            problems.append(loaded.problem(where, f"names no config value: {missing}"))
            continue
        params.append(SpaceParam(key, path, spec))
    if problems and not collect:
        raise ConfigError(problems=problems)
    return params


def _tune(loaded: LoadedConfig) -> TuneConfig:
    if loaded.config.tune is None:
        raise ConfigError(
            problems=[loaded.problem((), "no `tune:` section; see docs/tuning.md for one")]
        )
    return loaded.config.tune


def _section_class(annotation: Any) -> type[BaseModel] | None:
    """The config section class a field holds, when it holds exactly one (else None)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _section_class(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found = [c for a in typing.get_args(annotation) if (c := _section_class(a)) is not None]
        return found[0] if len(found) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _missing(config: BaseModel, path: KeyPath) -> str | None:
    """Why ``path`` names no value of ``config`` (None when it does).

    Schema sections must have the key (or allow extra keys, as ``optimizer`` does); a section
    that is off (``callbacks.early_stopping: null``) is walked by its class, since setting a
    key in it turns it on, as ``--set`` does. Layer arguments are Keras's: they are checked
    by building the model at the ends of each range.
    """
    node: Any = config
    for depth, part in enumerate(path):
        here = format_path(path[:depth]) or "the top level"
        if isinstance(node, LayerSpec):
            if part in ("name", "inputs", "shared"):
                node = getattr(node, part)
                continue
            if part != node.class_name:
                return (
                    f"{here} is a {node.class_name} layer; no key {part!r}"
                    f"{did_you_mean(str(part), [node.class_name])}"
                )
            return None  # the layer's Keras arguments
        cls = node if isinstance(node, type) else type(node)
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            if isinstance(part, int):
                return f"{here} is a section, not a list; no item [{part}]"
            if part not in cls.model_fields:
                if cls.model_config.get("extra") == "allow":
                    return None  # passed to a Keras constructor, which checks it
                return f"unknown key {part!r} in {here}{did_you_mean(part, list(cls.model_fields))}"
            value = None if isinstance(node, type) else getattr(node, part)
            node = value if value is not None else _section_class(cls.model_fields[part].annotation)
            if node is None:
                return (
                    None if depth == len(path) - 1 else f"{format_path(path[: depth + 1])} is unset"
                )
            continue
        if isinstance(node, dict):
            if part not in node:
                keys = [str(k) for k in node]
                return f"no key {part!r} in {here}{did_you_mean(str(part), keys)}"
            node = node[part]
            continue
        if isinstance(node, list):
            if not isinstance(part, int) or not 0 <= part < len(node):
                return f"{here} is a list of {len(node)}; no item {part!r} in it"
            node = node[part]
            continue
        return f"{here} is a value ({node!r}), not a section; no key {part!r} in it"
    return None


def end_values(param: SpaceParam) -> list[tuple[KeyPath, Any]]:
    """The values at the ends of a range (every choice of a categorical), each with where
    that end is written: what must be valid for every trial to be."""
    spec = param.spec
    if isinstance(spec, CategoricalParam):
        return [((*param.where, "choices", i), c) for i, c in enumerate(spec.choices)]
    low: float = spec.low
    high: float = spec.high
    if spec.step is not None:
        # The largest value a stepped range can take is on the step grid, not `high`.
        high = low + math.floor((high - low) / spec.step + 1e-9) * spec.step
    if isinstance(spec, IntParam):
        low, high = int(low), int(high)
    ends = [((*param.where, "low"), low)]
    if high != low:
        ends.append(((*param.where, "high"), high))
    return ends


def grid_values(param: SpaceParam) -> list[Any] | None:
    """Every value of a finite range (for the grid sampler), or None for a continuous one."""
    spec = param.spec
    if isinstance(spec, CategoricalParam):
        return list(spec.choices)
    if isinstance(spec, IntParam):
        return list(range(spec.low, spec.high + 1, spec.step))
    if spec.step is None:
        return None
    count = math.floor((spec.high - spec.low) / spec.step + 1e-9) + 1
    return [round(spec.low + i * spec.step, 12) for i in range(count)]


def suggest_params(trial: Any, params: list[SpaceParam]) -> dict[str, Any]:
    """Ask an Optuna trial for one value of each parameter."""
    values: dict[str, Any] = {}
    for param in params:
        spec = param.spec
        if isinstance(spec, FloatParam):
            values[param.key] = trial.suggest_float(
                param.key, spec.low, spec.high, log=spec.log, step=spec.step
            )
        elif isinstance(spec, IntParam):
            values[param.key] = trial.suggest_int(
                param.key, spec.low, spec.high, log=spec.log, step=spec.step
            )
        else:
            values[param.key] = trial.suggest_categorical(param.key, spec.choices)
    return values


def param_overrides(values: dict[str, Any]) -> list[str]:
    """``key=value`` strings, as ``--set`` takes them (values written as YAML)."""
    out = []
    for key, value in values.items():
        if isinstance(value, float):
            text = repr(value)  # shortest exact form; the loader reads 1e-05 as a number
        else:
            text = yaml.safe_dump(value, default_flow_style=True).strip()
            text = text.removesuffix("\n...").strip()
        out.append(f"{key}={text}")
    return out
