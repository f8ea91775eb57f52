"""``build_model``: a validated config plus the data's spec -> an uncompiled ``keras.Model``."""

from __future__ import annotations

from typing import Any

import keras

from dltrain.config.schema import ExperimentConfig, SequentialModel
from dltrain.data.spec import DataSpec, TargetInfo
from dltrain.model.augment import augment_spec
from dltrain.model.compile import output_names
from dltrain.model.graph import build_functional
from dltrain.model.problems import ProblemList
from dltrain.model.sequential import build_sequential
from dltrain.model.target_scale import unscale_layer
from dltrain.utils.keys import KeyPath

__all__ = ["build_model"]


def build_model(config: ExperimentConfig, spec: DataSpec) -> keras.Model:
    """Build the model a config describes, for the data ``spec`` describes (not compiled).

    The model takes the data's raw inputs (one tensor, or a dict by name when there are
    several); the ``augment`` section's layers (active only in training), then the data
    stage's preprocessing layers, if any, run inside it before the config's layers. Under a
    mixed-precision global Keras policy (the caller sets it, from ``precision``), every output
    is computed in float32 so that losses are.

    Args:
        config: The validated config (its ``model`` section).
        spec: Inputs, targets and preprocessing of the data.

    Returns:
        The model, its outputs in target order.

    Raises:
        ConfigError: every problem found in the model and augment sections, each at its key
            path.
    """
    problems = ProblemList()
    # Augmentation runs on the raw input, before the data's own preprocessing.
    spec = augment_spec(config, spec, problems)
    cfg = config.model
    mixed = keras.mixed_precision.global_policy().name != "float32"
    raw = {
        info.name: keras.Input(shape=info.shape, dtype=info.dtype, name=info.name)
        for info in spec.raw_inputs
    }
    facing = dict(spec.preprocess(raw)) if spec.preprocess is not None else dict(raw)
    # Without a model name, the experiment's name reads better in model.txt than Keras's
    # counters ("functional_4").
    name = cfg.name or config.name
    # A white pixel's value where the layers see it (backbones' ``preprocess: auto``).
    pixel_max = 1.0 if getattr(config.data, "scale", True) else 255.0
    if isinstance(cfg, SequentialModel):
        model, paths = build_sequential(cfg, name, spec, raw, facing, problems, mixed, pixel_max)
    else:
        model, paths = build_functional(cfg, name, raw, facing, problems, mixed, pixel_max)
    _check_outputs(model, paths, spec.targets, problems, config)
    problems.raise_if_any()
    if any(t.scale is not None for t in spec.targets):
        model = _unscaled(model, raw, spec.targets)
    return model


def _unscaled(model: keras.Model, raw: dict[str, Any], targets: list[TargetInfo]) -> keras.Model:
    """``model`` with an :class:`Unscale` layer after each output of a scaled target.

    The model then still takes the raw inputs and outputs the targets' own units.
    """
    names = output_names(model)
    if isinstance(model, keras.Sequential):
        # A Sequential has one output, its last layer's, for one target.
        layer = unscale_layer(names[0], targets[0])
        if layer is not None:
            model.add(layer)
        return model
    outputs = []
    for tensor, name, target in zip(model.outputs, names, targets, strict=True):
        layer = unscale_layer(name, target)
        outputs.append(tensor if layer is None else layer(tensor))
    return keras.Model(
        inputs=next(iter(raw.values())) if len(raw) == 1 else raw,
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        name=model.name,
    )


def _check_outputs(
    model: keras.Model,
    paths: list[KeyPath],
    targets: list[TargetInfo],
    problems: ProblemList,
    config: ExperimentConfig,
) -> None:
    """Each output must be as wide as the target it pairs with (in order)."""
    outputs: list[Any] = list(model.outputs)
    if len(outputs) != len(targets):
        where: KeyPath = (
            ("model", "layers")
            if isinstance(config.model, SequentialModel)
            else ("model", "outputs")
        )
        names = ", ".join(repr(t.name) for t in targets)
        problems.add(
            where,
            f"the model has {len(outputs)} output{'s' if len(outputs) != 1 else ''} but the "
            f"data has {len(targets)} target{'s' if len(targets) != 1 else ''} ({names}); "
            "outputs pair with targets in order",
        )
        return
    for tensor, path, target in zip(outputs, paths, targets, strict=True):
        width = tensor.shape[-1] if len(tensor.shape) > 1 else 1
        if width is None or width == target.units:
            continue
        if target.task == "multiclass":
            need = f"the target {target.name!r} has {target.units} classes"
        else:
            need = f"the {target.task} target {target.name!r} needs 1 value"
        problems.add(path, f"outputs {width} values but {need}")
