"""``type: sequential`` configs -> a ``keras.Sequential`` (or a functional stack)."""

from __future__ import annotations

from typing import Any, TypeAlias

import keras

from dltrain.config.schema import SequentialModel
from dltrain.data.spec import DataSpec
from dltrain.model.backbones import Backbone
from dltrain.model.layers import LayerFactory
from dltrain.model.problems import ProblemList, SpecError, keras_reason
from dltrain.model.tensors import format_shape, is_float32, shapes_compatible, to_float32
from dltrain.utils.keys import KeyPath

__all__ = ["build_sequential"]

_LAYERS: KeyPath = ("model", "layers")
_Entry: TypeAlias = "keras.layers.Layer | Backbone"


def build_sequential(
    cfg: SequentialModel,
    name: str,
    spec: DataSpec,
    raw: dict[str, Any],
    facing: dict[str, Any],
    problems: ProblemList,
    mixed: bool,
    pixel_max: float = 1.0,
) -> tuple[keras.Model, list[KeyPath]]:
    """Build a stack of layers on the data's single model input.

    Without preprocessing and with one raw input the result is a plain ``keras.Sequential``
    (what users of the classic examples expect to see); otherwise a functional model whose
    inputs are the raw inputs and whose layers run on the preprocessed tensor. A frozen
    backbone also needs the functional form: only there is it called with ``training=False``.

    Args:
        pixel_max: The value of a white pixel in the model input (see :class:`LayerFactory`).

    Returns:
        The model and, per output, the key path of the layer that produces it.

    Raises:
        ConfigError: every problem found.
    """
    if len(facing) != 1:
        names = ", ".join(facing)
        problems.add(
            ("model", "type"),
            f"a sequential model takes one input, but the data provides {len(facing)} "
            f"({names}); use `type: functional` and name them under `inputs`",
        )
        problems.raise_if_any()
    ((input_name, tensor),) = facing.items()
    data_shape = tuple(tensor.shape[1:])
    shape = data_shape
    if cfg.input_shape is not None:
        shape = tuple(cfg.input_shape)
        if not shapes_compatible(shape, data_shape):
            problems.add(
                ("model", "input_shape"),
                f"input_shape {format_shape(shape)} does not match the data's model input "
                f"{input_name!r} of shape {format_shape(data_shape)}",
            )
    layers, paths = _layers(cfg, LayerFactory(problems, pixel_max), problems, mixed)
    problems.raise_if_any()

    frozen = any(isinstance(layer, Backbone) and not layer.trainable for layer in layers)
    if spec.preprocess is None and len(raw) == 1 and not frozen:
        model = _plain(name, spec, shape, layers, paths, problems)
    else:
        model = _stack(name, raw, tensor, layers, paths, problems)
    problems.raise_if_any()
    return model, [paths[-1]]


def _layers(
    cfg: SequentialModel, factory: LayerFactory, problems: ProblemList, mixed: bool
) -> tuple[list[_Entry], list[KeyPath]]:
    """Build every entry (collecting all problems); also each entry's class key path."""
    layers: list[_Entry] = []
    paths: list[KeyPath] = []
    by_name: dict[str, _Entry] = {}
    last = len(cfg.layers) - 1
    for index, entry in enumerate(cfg.layers):
        path = _LAYERS + (index,)
        if entry.inputs is not None:
            problems.add(
                path + ("inputs",),
                "`inputs` is for functional models; sequential layers run in order",
            )
        if entry.class_name == "shared":
            assert entry.shared is not None
            paths.append(path + ("shared",))
            layer = by_name.get(entry.shared)
            if layer is None:
                problems.add(
                    path + ("shared",),
                    f"no earlier layer is named {entry.shared!r}"
                    + (f"; named layers: {', '.join(by_name)}" if by_name else ""),
                )
                continue
        else:
            paths.append(path + (entry.class_name,))
            built = factory.build(entry, path, force_float32=mixed and index == last)
            if built is None:
                continue
            layer = built
            if entry.name is not None:
                by_name[entry.name] = layer
        layers.append(layer)
    return layers, paths


def _plain(
    name: str,
    spec: DataSpec,
    shape: tuple[int | None, ...],
    layers: list[_Entry],
    paths: list[KeyPath],
    problems: ProblemList,
) -> keras.Model:
    info = spec.raw_inputs[0]
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=shape, dtype=info.dtype, name=info.name))
    for layer, path in zip(layers, paths, strict=True):
        try:
            if isinstance(layer, Backbone):
                # (``model.layers`` leaves out the Input.)
                current = tuple(model.outputs[0].shape[1:]) if model.layers else shape
                for step in layer.layers(current):
                    model.add(step)
            else:
                model.add(layer)
        except SpecError as error:
            problems.add_error(error)
            return model
        except Exception as exc:  # Keras raises ValueError/TypeError for bad shapes.
            problems.add(path, keras_reason(exc))
            return model
    if not is_float32(model.outputs[0]):
        model.add(keras.layers.Activation("linear", dtype="float32", name="output_float32"))
    return model


def _stack(
    name: str,
    raw: dict[str, Any],
    tensor: Any,
    layers: list[_Entry],
    paths: list[KeyPath],
    problems: ProblemList,
) -> keras.Model:
    for layer, path in zip(layers, paths, strict=True):
        try:
            tensor = layer(tensor)
        except SpecError as error:
            problems.add_error(error)
            problems.raise_if_any()
        except Exception as exc:  # Keras raises ValueError/TypeError for bad shapes.
            problems.add(path, keras_reason(exc))
            problems.raise_if_any()
    if not is_float32(tensor):
        tensor = to_float32(tensor, "output_float32")
    inputs = next(iter(raw.values())) if len(raw) == 1 else raw
    return keras.Model(inputs=inputs, outputs=tensor, name=name)
