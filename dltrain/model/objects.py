"""Names and ``{class_name, config}`` specs -> Keras objects, through Keras's own registries.

Every lookup goes through the public ``get``/``deserialize`` functions of a Keras module; the
lists used for "did you mean" are read from those same modules, so new Keras classes are
found without any change here. Names Keras does not know are then looked up among the
objects registered with ``@keras.saving.register_keras_serializable`` (by the config's
``imports``), by their registered name ``package>Name`` or, when unambiguous, ``Name``.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import keras

from dltrain.model.problems import SpecError, keras_reason
from dltrain.utils.keys import KeyPath, did_you_mean

__all__ = [
    "ACTIVATION",
    "CALLBACK",
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
    "keras_identifier",
    "names_of",
    "registered_name",
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


def _get_callback(identifier: Any) -> keras.callbacks.Callback:
    """``keras.callbacks`` has no ``get``: construct the named class with its arguments."""
    args: dict[str, Any] = {}
    if isinstance(identifier, str):
        name = identifier
    else:
        name, args = identifier["class_name"], identifier.get("config") or {}
    cls = getattr(keras.callbacks, name, None) or keras.saving.get_registered_object(name)
    if not (inspect.isclass(cls) and issubclass(cls, keras.callbacks.Callback)):
        raise ValueError(f"unknown callback {name!r}")
    return cls(**args)


CALLBACK = Kind("callback", keras.callbacks, keras.callbacks.Callback, False, _get_callback)


def _fits(kind: Kind, obj: Any) -> bool:
    """Whether a registered object can serve as a ``kind``."""
    if inspect.isclass(obj):
        return issubclass(obj, kind.base) and obj is not kind.base
    return kind.functions and inspect.isfunction(obj)


def _registered(kind: Kind) -> dict[str, Any]:
    """Registered name -> object, for the registered objects that fit ``kind``."""
    return {k: v for k, v in keras.saving.get_custom_objects().items() if _fits(kind, v)}


def registered_name(kind: Kind, name: str, path: KeyPath) -> str | None:
    """The registered name (``package>Name``) that ``name`` means for ``kind``, or None.

    Raises:
        SpecError: a plain name that several packages registered.
    """
    found = _registered(kind)
    if ">" in name:
        return name if name in found else None
    matches = [key for key in found if key.rsplit(">", 1)[-1] == name]
    if len(matches) > 1:
        raise SpecError(
            path, f"{name!r} is registered by several packages: {', '.join(sorted(matches))}; "
            "write the full registered name"
        )
    return matches[0] if matches else None


def names_of(kind: Kind) -> tuple[str, ...]:
    """The names a config may use for ``kind`` (for suggestions), registered ones included."""
    registered = list(_registered(kind))
    plain = [key.rsplit(">", 1)[-1] for key in registered]
    unique = [name for name in plain if plain.count(name) == 1]
    return _builtin_names(kind) + tuple(unique) + tuple(registered)


@cache
def _builtin_names(kind: Kind) -> tuple[str, ...]:
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
    for candidate in _builtin_names(kind):
        if candidate.lower() == name.lower():
            obj = getattr(kind.module, candidate)
            return obj if inspect.isclass(obj) else None
    key = registered_name(kind, name, ())
    obj = _registered(kind).get(key) if key else None
    return obj if inspect.isclass(obj) else None


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
    return _resolve(kind, identifier, path)[0]


def keras_identifier(kind: Kind, identifier: Any, path: KeyPath) -> Any:
    """What to hand a Keras constructor or ``compile`` for ``identifier``, checked.

    Names Keras knows stay as written (they serialize as written); a registered object's
    name becomes the object, since Keras's string lookups do not search the registry.

    Raises:
        SpecError: as :func:`resolve`.
    """
    obj, registered = _resolve(kind, identifier, path)
    return obj if registered else identifier


def _resolve(kind: Kind, identifier: Any, path: KeyPath) -> tuple[Any, bool]:
    """The object, and whether it was found among registered objects."""
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
            return obj, False
    key = registered_name(kind, name, name_path)
    if key is not None:
        config = identifier.get("config") if isinstance(identifier, dict) else None
        try:
            # Keras's deserializers find registered objects by their full name in this form.
            return kind.get({"class_name": key, "config": config or {}}), True
        except Exception as exc:  # Raised by the registered class's own constructor.
            failure = exc
    cls = find_class(kind, name)
    if cls is None or failure is None:
        raise unknown_name(kind, name, name_path)
    config = identifier.get("config") if isinstance(identifier, dict) else None
    raise arg_problem(cls, config or {}, path + ("config",), failure)
