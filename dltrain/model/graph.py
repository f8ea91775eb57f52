"""``type: functional`` configs -> a functional ``keras.Model`` (any DAG of named layers).

Layers may be listed in any order: they are sorted by their ``inputs``. The checks that need
no Keras (names, references, cycles, unused layers) run first, together with building every
layer object, so one pass reports all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras

from dltrain.config.schema import FunctionalModel, LayerSpec
from dltrain.model.backbones import Backbone
from dltrain.model.layers import LayerFactory
from dltrain.model.problems import ProblemList, SpecError, keras_reason
from dltrain.model.tensors import (
    call_layer,
    format_shape,
    is_float32,
    shapes_compatible,
    to_float32,
)
from dltrain.utils.keys import KeyPath, did_you_mean

__all__ = ["build_functional"]

_INPUTS: KeyPath = ("model", "inputs")
_LAYERS: KeyPath = ("model", "layers")
_OUTPUTS: KeyPath = ("model", "outputs")


@dataclass
class _Node:
    """One named layer entry of the config."""

    index: int
    name: str
    spec: LayerSpec

    @property
    def path(self) -> KeyPath:
        return _LAYERS + (self.index,)

    @property
    def class_path(self) -> KeyPath:
        key = "shared" if self.spec.class_name == "shared" else self.spec.class_name
        return self.path + (key,)

    def inputs_path(self, position: int) -> KeyPath:
        refs = self.spec.inputs or []
        return self.path + (("inputs", position) if len(refs) > 1 else ("inputs",))


def build_functional(
    cfg: FunctionalModel,
    model_name: str,
    raw: dict[str, Any],
    facing: dict[str, Any],
    problems: ProblemList,
    mixed: bool,
    pixel_max: float = 1.0,
) -> tuple[keras.Model, list[KeyPath]]:
    """Build the graph described by ``cfg`` on the data's model-facing tensors.

    Args:
        cfg: The functional model section.
        model_name: The model's name.
        raw: The raw ``keras.Input`` tensors by name (the saved model's inputs).
        facing: The tensors the user's layers see, by data input name.
        problems: Where problems go.
        mixed: Whether a mixed-precision policy is configured (outputs then compute in
            float32).
        pixel_max: The value of a white pixel in the inputs (see :class:`LayerFactory`).

    Returns:
        The model and, per output, the key path of what produces it.

    Raises:
        ConfigError: every problem found.
    """
    bound = _bind_inputs(cfg, facing, problems)
    nodes = _nodes(cfg, problems)
    before = len(problems.items)
    _check_references(cfg, nodes, problems)
    order = _topological_order(nodes, problems)
    if len(problems.items) == before:
        # With a broken reference everything upstream of it looks unused; say it only once
        # the references are right.
        _check_unused(cfg, nodes, problems)
    roots = {name: _root(nodes, name) for name in nodes}
    float32_layers = {roots[o] for o in cfg.outputs if o in nodes} if mixed else set()
    factory = LayerFactory(problems, pixel_max)
    layers: dict[str, keras.layers.Layer | Backbone] = {}
    for node in nodes.values():
        if node.spec.class_name != "shared":
            layer = factory.build(node.spec, node.path, force_float32=node.name in float32_layers)
            if layer is not None:
                layers[node.name] = layer
    problems.raise_if_any()

    tensors: dict[str, Any] = dict(bound)
    for name in order:
        node = nodes[name]
        layer = layers[roots[name]]
        args = [tensors[ref] for ref in node.spec.inputs or []]
        try:
            if isinstance(layer, Backbone):
                if len(args) != 1:
                    raise SpecError(
                        node.inputs_path(0), f"layer {name!r} takes one input image tensor"
                    )
                tensors[name] = layer(args[0])
            else:
                tensors[name] = call_layer(layer, args)
        except SpecError as error:
            problems.add_error(error)
            problems.raise_if_any()
        except Exception as exc:  # Keras raises ValueError/TypeError for bad shapes.
            shapes = format_shape([tuple(a.shape) for a in args])
            problems.add(node.class_path, f"layer {name!r}: {keras_reason(exc)} (inputs: {shapes})")
            problems.raise_if_any()

    outputs = []
    for name in cfg.outputs:
        tensor = tensors[name]
        if not is_float32(tensor):
            tensor = to_float32(tensor, f"{name}_float32")
        outputs.append(tensor)
    inputs = next(iter(raw.values())) if len(raw) == 1 else raw
    try:
        model = keras.Model(
            inputs=inputs, outputs=outputs[0] if len(outputs) == 1 else outputs, name=model_name
        )
    except Exception as exc:  # e.g. an output that does not depend on the inputs.
        problems.add(_OUTPUTS, keras_reason(exc))
        problems.raise_if_any()
    paths = [nodes[o].class_path if o in nodes else _INPUTS + (o,) for o in cfg.outputs]
    return model, paths


def _bind_inputs(
    cfg: FunctionalModel, facing: dict[str, Any], problems: ProblemList
) -> dict[str, Any]:
    """Config input name -> the data tensor it stands for."""
    available = list(facing)
    if len(cfg.inputs) == 1 and len(facing) == 1:
        # One input on each side: the names need not agree (``features`` vs ``x``).
        bound = {next(iter(cfg.inputs)): facing[available[0]]}
    else:
        bound = {}
        for name in cfg.inputs:
            if name in facing:
                bound[name] = facing[name]
            else:
                problems.add(
                    _INPUTS + (name,),
                    f"the data has no input named {name!r}{did_you_mean(name, available)}; "
                    f"it provides: {', '.join(available)}",
                )
        missing = [name for name in available if name not in cfg.inputs]
        if missing:
            problems.add(
                _INPUTS,
                f"the data also provides {', '.join(repr(m) for m in missing)}, which no "
                "model input takes; list every data input under `inputs`",
            )
    for name, tensor in bound.items():
        want = cfg.inputs[name].shape
        have = tuple(tensor.shape[1:])
        if want is not None and not shapes_compatible(tuple(want), have):
            problems.add(
                _INPUTS + (name, "shape"),
                f"shape {format_shape(want)} does not match the data's {format_shape(have)}",
            )
    return bound


def _nodes(cfg: FunctionalModel, problems: ProblemList) -> dict[str, _Node]:
    nodes: dict[str, _Node] = {}
    for index, spec in enumerate(cfg.layers):
        path = _LAYERS + (index,)
        if spec.name is None:
            problems.add(path, "layers of a functional model need a `name`")
        elif spec.name in nodes or spec.name in cfg.inputs:
            problems.add(
                path + ("name",),
                f"duplicate name {spec.name!r}; inputs and layers need distinct names",
            )
        else:
            nodes[spec.name] = _Node(index, spec.name, spec)
    return nodes


def _check_references(cfg: FunctionalModel, nodes: dict[str, _Node], problems: ProblemList) -> None:
    known = [*cfg.inputs, *nodes]
    for node in nodes.values():
        if not node.spec.inputs:
            problems.add(node.path, f"layer {node.name!r} needs `inputs`: input or layer names")
        for position, ref in enumerate(node.spec.inputs or []):
            if ref not in known:
                problems.add(
                    node.inputs_path(position),
                    f"layer {node.name!r} takes {ref!r}, which is not an input or layer"
                    f"{did_you_mean(ref, known)}",
                )
        shared = node.spec.shared
        if shared is not None and _root(nodes, node.name) is None:
            hint = did_you_mean(shared, list(nodes)) if shared not in nodes else ""
            problems.add(
                node.path + ("shared",),
                f"{shared!r} is not a layer defined in this model{hint}",
            )
    for position, name in enumerate(cfg.outputs):
        if name not in known:
            problems.add(
                _OUTPUTS + (position,),
                f"output {name!r} is not an input or layer{did_you_mean(name, known)}",
            )


def _root(nodes: dict[str, _Node], name: str) -> Any:
    """The entry that owns the layer object ``name`` applies (following ``shared`` links)."""
    seen: set[str] = set()
    while name in nodes and nodes[name].spec.class_name == "shared":
        if name in seen:
            return None
        seen.add(name)
        name = str(nodes[name].spec.shared)
    return name if name in nodes else None


def _topological_order(nodes: dict[str, _Node], problems: ProblemList) -> list[str]:
    """Layer names in an order where each comes after its inputs; cycles are problems."""
    deps = {
        name: [ref for ref in node.spec.inputs or [] if ref in nodes]
        for name, node in nodes.items()
    }
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = trail[trail.index(name) :] + [name]
            first = min(cycle[:-1], key=lambda n: nodes[n].index)
            problems.add(
                nodes[first].path + ("inputs",),
                "layers form a cycle: " + " -> ".join(cycle),
            )
            return
        state[name] = 1
        for ref in deps[name]:
            visit(ref, trail + [name])
        state[name] = 2
        order.append(name)

    for name in sorted(nodes, key=lambda n: nodes[n].index):
        visit(name, [])
    return order


def _check_unused(cfg: FunctionalModel, nodes: dict[str, _Node], problems: ProblemList) -> None:
    used: set[str] = set()
    stack = list(cfg.outputs)
    while stack:
        name = stack.pop()
        if name in used:
            continue
        used.add(name)
        if name in nodes:
            stack.extend(nodes[name].spec.inputs or [])
    for name, node in nodes.items():
        if name not in used:
            problems.add(node.path + ("name",), f"layer {name!r} is not used by any output")
    for name in cfg.inputs:
        if name not in used:
            problems.add(_INPUTS + (name,), f"input {name!r} is not used by any output")
