"""Names and ``{class_name, config}`` specs -> Keras objects, through Keras's own registries.

Every lookup goes through the public ``get``/``deserialize`` functions of a Keras module; the
lists used for "did you mean" are read from those same modules, so new Keras classes are
found without any change here.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import keras

from dltrain.keys import KeyPath, did_you_mean
from dltrain.model.problems import SpecError, keras_reason

__all__ = [
    "ACTIVATION",
    "CONSTRAINT",
    "INITIALIZER",
    "LAYER",
    "LOSS",
    "METRIC",
    "OPTIMIZER",
    "REGULARIZER",
    "SCHEDULE",
    "Kind",
    "accepted_args",
    "arg_problem",
    "find_class",
    "names_of",
    "resolve",
    "unknown_name",
]

# Public helpers that live in the registries' modules but are not objects a config can name.
_MODULE_FUNCTIONS = frozenset({"get", "serialize", "deserialize"})


@dataclass(frozen=True)
class Kind:
    """One Keras registry: what it is called in messages, its module and how to look up."""

    label: str
    module: Any
    base: type
    functions: bool
    """Whether plain functions in the module are valid names (losses, activations...)."""
    get: Callable[[Any], Any]


LAYER = Kind("layer class", keras.layers, keras.layers.Layer, False, keras.layers.deserialize)
OPTIMIZER = Kind("optimizer", keras.optimizers, keras.optimizers.Optimizer, False,
                 keras.optimizers.get)
SCHEDULE = Kind("learning-rate schedule", keras.optimizers.schedules,
                keras.optimizers.schedules.LearningRateSchedule, False,
                keras.optimizers.schedules.deserialize)
LOSS = Kind("loss", keras.losses, keras.losses.Loss, True, keras.losses.get)
METRIC = Kind("metric", keras.metrics, keras.metrics.Metric, True, keras.metrics.get)
# Activations are functions; ``keras.activations`` exports no classes, so any base will do.
ACTIVATION = Kind("activation", keras.activations, keras.layers.Layer, True,
                  keras.activations.get)
INITIALIZER = Kind("initializer", keras.initializers, keras.initializers.Initializer, True,
                   keras.initializers.get)
REGULARIZER = Kind("regularizer", keras.regularizers, keras.regularizers.Regularizer, True,
                   keras.regularizers.get)
CONSTRAINT = Kind("constraint", keras.constraints, keras.constraints.Constraint, True,
                  keras.constraints.get)


@cache
def names_of(kind: Kind) -> tuple[str, ...]:
    """The public names of ``kind``'s module that a config may use (for suggestions)."""
    names = []
    for name in dir(kind.module):
        if name.startswith("_") or name in _MODULE_FUNCTIONS:
            continue
        obj = getattr(kind.module, name)
        if inspect.isclass(obj):
            if issubclass(obj, kind.base) and obj is not kind.base:
                names.append(name)
        elif kind.functions and inspect.isfunction(obj):
            names.append(name)
    return tuple(names) + _aliases(kind, names)


def _aliases(kind: Kind, names: list[str]) -> tuple[str, ...]:
    """Short names the registry also accepts, such as ``mse`` and ``kld``.

    Keras keeps its aliases in private tables; they are initialisms, so the initialisms of the
    public names (``mean_squared_error`` -> ``mse``, ``KLDivergence`` -> ``kld``) that the
    public ``get`` accepts are the aliases.
    """
    if not kind.functions:
        return ()
    candidates = {
        "".join(word[0] for word in name.split("_")) if "_" in name
        else "".join(c for c in name if c.isupper()).lower()
        for name in names
    }
    found = []
    for alias in sorted(candidates - {n.lower() for n in names}):
        if len(alias) < 3:
            continue
        try:
            obj = kind.get(alias)
        except Exception:  # noqa: BLE001 - Keras raises several types for unknown names
            continue
        if obj is not None and not isinstance(obj, str):
            found.append(alias)
    return tuple(found)


def find_class(kind: Kind, name: str) -> type | None:
    """The class ``name`` refers to in ``kind``'s module (case-insensitive), or None."""
    obj = getattr(kind.module, name, None)
    if inspect.isclass(obj) and issubclass(obj, kind.base) and obj is not kind.base:
        return obj
    # Keras accepts lowercase names for built-in optimizers ("adam"), so match loosely.
    for candidate in names_of(kind):
        if candidate.lower() == name.lower():
            obj = getattr(kind.module, candidate)
            return obj if inspect.isclass(obj) else None
    return None


@cache
def accepted_args(cls: type) -> tuple[str, ...]:
    """Constructor argument names of ``cls``, including those its base classes take.

    Keras classes pass ``**kwargs`` up to their bases (``name``, ``dtype``, ``trainable`` on
    layers; ``clipnorm``, ``weight_decay`` on optimizers), so every ``__init__`` in the MRO
    counts.
    """
    names: dict[str, None] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for param in params:
            if param.name != "self" and param.kind not in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                names.setdefault(param.name)
    return tuple(names)


def arg_problem(
    cls: type, args: dict[str, Any], path: KeyPath, exc: BaseException | None
) -> SpecError:
    """Explain why constructing ``cls(**args)`` failed, pointing at the argument if possible.

    ``path`` is where ``args`` is written; an unknown argument name gets "did you mean" and the
    list of accepted names.
    """
    accepted = accepted_args(cls)
    for key in args:
        if key not in accepted:
            return SpecError(
                path + (key,),
                f"{cls.__name__} has no argument {key!r}{did_you_mean(key, accepted)}; "
                f"accepted: {', '.join(accepted)}",
            )
    reason = keras_reason(exc) if exc is not None else f"invalid arguments for {cls.__name__}"
    # Keras messages end with "Received: units=-1"; point at that argument when it is ours.
    for key in args:
        if f"Received: {key}=" in reason or f"`{key}`" in reason:
            return SpecError(path + (key,), reason)
    return SpecError(path, reason)


def unknown_name(kind: Kind, name: str, path: KeyPath) -> SpecError:
    """``unknown loss 'msee' (did you mean 'mse'?)``."""
    return SpecError(path, f"unknown {kind.label} {name!r}{did_you_mean(name, names_of(kind))}")


def resolve(kind: Kind, identifier: Any, path: KeyPath) -> Any:
    """Look ``identifier`` (a name or ``{class_name, config}``) up in ``kind``'s registry.

    Args:
        kind: Which registry.
        identifier: What the config says.
        path: Where the config says it (errors point there).

    Raises:
        SpecError: unknown name (with a suggestion) or arguments the class does not take.
    """
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if not isinstance(name, str):
            raise SpecError(path, f"a {kind.label} given as a mapping needs `class_name`")
        name_path = path + ("class_name",)
    elif isinstance(identifier, str):
        name, name_path = identifier, path
    else:
        raise SpecError(path, f"expected a {kind.label} name; received {identifier!r}")
    failure: BaseException | None = None
    try:
        # Keras's deserializers may rewrite the dict they are given (class_name casing).
        obj = kind.get(copy.deepcopy(identifier))
    except Exception as exc:  # Keras raises TypeError, ValueError or its own errors.
        failure = exc
    else:
        # Some registries hand an unknown name back unchanged instead of raising.
        if obj is not None and not isinstance(obj, str):
            return obj
    cls = find_class(kind, name)
    if cls is None or failure is None:
        raise unknown_name(kind, name, name_path)
    config = identifier.get("config") if isinstance(identifier, dict) else None
    raise arg_problem(cls, config or {}, path + ("config",), failure)
