"""One layer entry of a config -> one Keras layer, with located errors.

The class is looked up by name in ``keras.layers`` (only ``Layer`` subclasses count) and
constructed with the config's arguments, so Keras decides which classes and arguments exist.
Before that, nested objects in the arguments
(activations, initializers, regularizers, constraints) are looked up on their own so that a
misspelled name points at its own line, and wrapped layers written in the short form
(``Bidirectional: {layer: {LSTM: {units: 8}}}``) are built recursively. A name that no Keras
layer has but a ``keras.applications`` model function does becomes a :class:`Backbone`, built
when the builders call it on a tensor (:mod:`dltrain.model.backbones`).
"""

from __future__ import annotations

import inspect
from typing import Any

import keras
from pydantic import ValidationError

from dltrain.config.schema import LayerSpec
from dltrain.model.backbones import Backbone, application, application_names
from dltrain.model.objects import (
    ACTIVATION,
    CONSTRAINT,
    INITIALIZER,
    LAYER,
    REGULARIZER,
    Kind,
    accepted_args,
    arg_problem,
    keras_identifier,
    names_of,
    registered_name,
)
from dltrain.model.problems import ProblemList, SpecError
from dltrain.utils.keys import KeyPath, did_you_mean

__all__ = ["LayerFactory", "layer_class"]

# Argument-name endings Keras uses for nested objects, and the registry each one names
# (``activation``, ``recurrent_activation``, ``kernel_initializer``, ``bias_regularizer``...).
_NESTED_KINDS: tuple[tuple[str, Kind], ...] = (
    ("activation", ACTIVATION),
    ("initializer", INITIALIZER),
    ("regularizer", REGULARIZER),
    ("constraint", CONSTRAINT),
)
_SEQUENTIAL = "Sequential"
_SEQUENTIAL_KEYS = ("layers", "name")


class _Reported(Exception):
    """A nested block failed and its problems are already recorded."""


def layer_class(name: str, path: KeyPath = ()) -> type | None:
    """The ``keras.layers`` class called ``name`` (exact spelling), else a registered one.

    Raises:
        SpecError: a plain name that several packages registered (at ``path``).
    """
    obj = getattr(keras.layers, name, None)
    if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer):
        return obj
    # ``package>Name``, or ``Name`` when one package registered it (plugins in ``imports``).
    key = registered_name(LAYER, name, path)
    obj = keras.saving.get_registered_object(key) if key else None
    return obj if inspect.isclass(obj) else None


class LayerFactory:
    """Builds layers from :class:`LayerSpec` entries, recording problems instead of stopping.

    Args:
        problems: Where problems go.
        pixel_max: The value of a white pixel in the tensors the layers see (1.0 when the
            data scales pixels to [0, 1], 255.0 for raw pixels): ``preprocess: auto`` of a
            backbone maps it to what the application expects.
    """

    def __init__(self, problems: ProblemList, pixel_max: float = 1.0) -> None:
        self.problems = problems
        self.pixel_max = pixel_max

    def build(
        self, spec: LayerSpec, path: KeyPath, *, force_float32: bool = False
    ) -> keras.layers.Layer | Backbone | None:
        """Build the layer of ``spec``, written at ``path``; None after recording problems.

        A ``keras.applications`` entry gives a :class:`Backbone`, which the caller builds by
        calling it on a tensor.

        Args:
            spec: The layer entry (not a ``shared`` one).
            path: Key path of the entry, e.g. ``("model", "layers", 3)``.
            force_float32: Compute in float32 whatever the global dtype policy (model outputs
                under mixed precision), unless the entry sets ``dtype`` itself.
        """
        try:
            return self._build(spec, path, force_float32)
        except SpecError as error:
            self.problems.add_error(error)
            return None
        except _Reported:
            return None

    def _build(
        self, spec: LayerSpec, path: KeyPath, force_float32: bool
    ) -> keras.layers.Layer | Backbone:
        class_path = path + (spec.class_name,)
        if spec.class_name == "Lambda":
            raise SpecError(
                class_path,
                "Lambda layers run arbitrary Python code and cannot be built from a config; "
                "use built-in layers, or a custom layer class registered in code",
            )
        if spec.class_name == _SEQUENTIAL:
            return self._sequential(spec, class_path, force_float32)
        cls = layer_class(spec.class_name, class_path)
        if cls is None:
            app = application(spec.class_name)
            if app is None:
                names = names_of(LAYER) + application_names()
                raise SpecError(
                    class_path,
                    f"unknown {LAYER.label} {spec.class_name!r}"
                    f"{did_you_mean(spec.class_name, names)}",
                )
            errors = app.check(spec.config, class_path)
            for error in errors:
                self.problems.add_error(error)
            if errors:
                raise _Reported
            return Backbone(app, spec.config, spec.name, class_path, self.pixel_max)
        try:
            args = self._arguments(spec.config, class_path)
        except _Reported:
            # The layer cannot be built; still name any argument it does not take.
            accepted = accepted_args(cls)
            for key in spec.config:
                if key not in accepted:
                    self.problems.add_error(arg_problem(cls, {key: None}, class_path, None))
            raise
        if spec.name is not None:
            args["name"] = spec.name
        if force_float32 and "dtype" not in args:
            args["dtype"] = "float32"
        try:
            # Direct construction rather than ``keras.layers.deserialize``: ``from_config`` of
            # several layers expects every key ``get_config`` writes (Rescaling needs
            # ``offset``), while the constructor applies the defaults a user expects.
            layer = cls(**args)
        except Exception as exc:  # Keras raises TypeError/ValueError/NotImplementedError...
            raise arg_problem(cls, spec.config, class_path, exc) from exc
        assert isinstance(layer, keras.layers.Layer)
        return layer

    def _arguments(self, config: dict[str, Any], class_path: KeyPath) -> dict[str, Any]:
        """Check nested objects and expand short-form wrapped layers, recording every problem.

        Raises:
            _Reported: some argument had a problem (already recorded).
        """
        failed = False
        args: dict[str, Any] = {}
        for key, value in config.items():
            try:
                args[key] = self._argument(key, value, class_path + (key,))
            except SpecError as error:
                self.problems.add_error(error)
                failed = True
            except _Reported:
                failed = True
        if failed:
            raise _Reported
        return args

    def _argument(self, key: str, value: Any, path: KeyPath) -> Any:
        if _short_form_layer(value):
            return _not_backbone(
                self._build(_parse_entry(value, path), path, force_float32=False), path
            )
        if isinstance(value, dict) and layer_class(str(value.get("class_name"))) is not None:
            # Keras's own ``{class_name, config}`` form of a wrapped layer.
            entry = _parse_entry({value["class_name"]: value.get("config") or {}}, path)
            return self._build(entry, path + ("config",), force_float32=False)
        for suffix, kind in _NESTED_KINDS:
            if key.endswith(suffix) and isinstance(value, str | dict):
                return keras_identifier(kind, value, path)
        return value

    def _sequential(
        self, spec: LayerSpec, class_path: KeyPath, force_float32: bool
    ) -> keras.layers.Layer:
        """A nested ``Sequential: {layers: [...]}`` block, built recursively."""
        extra = [k for k in spec.config if k not in _SEQUENTIAL_KEYS]
        if extra:
            raise SpecError(
                class_path + (extra[0],),
                f"a Sequential block takes only {', '.join(_SEQUENTIAL_KEYS)}; "
                f"received {extra[0]!r}",
            )
        entries = spec.config.get("layers")
        if not isinstance(entries, list) or not entries:
            raise SpecError(class_path, "a Sequential block needs `layers`: a list of layers")
        layers: list[keras.layers.Layer] = []
        failed = False
        for index, raw in enumerate(entries):
            path = class_path + ("layers", index)
            try:
                entry = _parse_entry(raw, path)
            except SpecError as error:
                self.problems.add_error(error)
                failed = True
                continue
            last = index == len(entries) - 1
            layer = self.build(entry, path, force_float32=force_float32 and last)
            if isinstance(layer, Backbone):
                self.problems.add_error(_backbone_nested(path + (entry.class_name,)))
                layer = None
            failed = failed or layer is None
            if layer is not None:
                layers.append(layer)
        if failed:
            raise _Reported
        name = spec.name or spec.config.get("name")
        return keras.Sequential(layers, name=name)


def _backbone_nested(path: KeyPath) -> SpecError:
    return SpecError(
        path,
        "a keras.applications model is built for the tensor it is applied to; list it among "
        "the model's own layers, not inside another layer or a Sequential block",
    )


def _not_backbone(layer: keras.layers.Layer | Backbone, path: KeyPath) -> keras.layers.Layer:
    if isinstance(layer, Backbone):
        raise _backbone_nested(path)
    return layer


def _short_form_layer(value: Any) -> bool:
    """Whether ``value`` is a layer in the ``{LSTM: {units: 8}}`` short form.

    A capitalized single key with a mapping (or nothing) as its value counts even when it is
    not a Keras class, so that a misspelled wrapped layer gets "unknown layer class".
    Keras's own nested forms use lowercase keys (``class_name``, ``config``).
    """
    if isinstance(value, dict) and len(value) == 1:
        ((key, args),) = value.items()
        return isinstance(key, str) and key[:1].isupper() and isinstance(args, dict | None)
    return False


def _parse_entry(raw: Any, path: KeyPath) -> LayerSpec:
    """A nested layer entry -> :class:`LayerSpec` (the schema checks only the top level)."""
    try:
        entry = LayerSpec.model_validate(raw)
    except ValidationError as exc:
        message = str(exc.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
        raise SpecError(path, message) from None
    if entry.class_name == "shared" or entry.inputs is not None:
        raise SpecError(path, "nested layers take no `inputs` or `shared`; they run in order")
    return entry
