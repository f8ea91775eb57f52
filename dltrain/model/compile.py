"""``compile_model``: optimizer, losses, loss weights and metrics from the config.

Names go through ``keras.optimizers.get``, ``keras.losses.get``, ``keras.metrics.get`` and
``keras.optimizers.schedules.deserialize``. Per-output settings (dicts keyed by output layer
name) become lists in output order, the form Keras 3 handles most reliably.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras

from dltrain.config.schema import ExperimentConfig, ObjectSpec, OptimizerConfig
from dltrain.data.spec import DataSpec, TargetInfo
from dltrain.model.objects import LOSS, METRIC, OPTIMIZER, SCHEDULE, keras_identifier, resolve
from dltrain.model.problems import ProblemList, SpecError
from dltrain.model.target_scale import Unscale, scaled_loss
from dltrain.utils.keys import KeyPath, did_you_mean

__all__ = [
    "build_optimizer",
    "compile_arguments",
    "compile_model",
    "default_loss",
    "default_metrics",
    "output_losses",
    "output_names",
]

# ``compile`` picks binary, categorical or sparse accuracy from the labels for these names
# (keras/src/trainers/compile_utils.py), which ``keras.metrics.get`` alone would not do; they
# are passed through as text.
_ACCURACY_NAMES = frozenset({"accuracy", "acc"})


def output_names(model: keras.Model) -> list[str]:
    """The names per-output settings are keyed by: the layers that produce the outputs.

    An output that undoes ``data.target_scaling`` (:class:`Unscale`) goes by the name of
    the layer before it, the one the config wrote.
    """
    names = getattr(model, "output_names", None)
    # keras.Sequential has no ``output_names``; its one output is its last layer's.
    layers = [model.get_layer(n) for n in names] if names else [model.layers[-1]]
    return [layer.of if isinstance(layer, Unscale) else layer.name for layer in layers]


def output_losses(model: keras.Model) -> list[tuple[str, Any]]:
    """Each output's name (:func:`output_names`) with the loss it was compiled with; empty
    when the model is not compiled or its losses do not pair with its outputs."""
    loss = getattr(model, "loss", None)
    if not getattr(model, "compiled", False) or loss is None:
        return []
    losses = list(loss) if isinstance(loss, list | tuple) else [loss]
    names = output_names(model)
    return list(zip(names, losses, strict=True)) if len(losses) == len(names) else []


def default_loss(target: TargetInfo) -> str:
    """The loss that fits a target when the config names none."""
    if target.task == "regression":
        return "mse"
    if target.task == "binary":
        return "binary_crossentropy"
    return "categorical_crossentropy" if target.one_hot else "sparse_categorical_crossentropy"


def default_metrics(target: TargetInfo) -> list[str]:
    """The metrics reported for a target when the config names none."""
    return ["mae"] if target.task == "regression" else ["accuracy"]


def build_optimizer(config: ExperimentConfig) -> keras.optimizers.Optimizer:
    """The configured optimizer, with its learning rate or schedule.

    Raises:
        ConfigError: unknown optimizer or schedule, or an argument it does not take.
    """
    problems = ProblemList()
    optimizer = _optimizer(config.optimizer, problems)
    problems.raise_if_any()
    assert optimizer is not None
    return optimizer


def compile_model(model: keras.Model, config: ExperimentConfig, spec: DataSpec) -> None:
    """Compile ``model`` with the config's optimizer, losses and metrics.

    See :func:`compile_arguments`, which says what is passed to ``model.compile``.

    Raises:
        ConfigError: every problem found, each at its key path.
    """
    model.compile(**compile_arguments(model, config, spec))


def compile_arguments(
    model: keras.Model, config: ExperimentConfig, spec: DataSpec
) -> dict[str, Any]:
    """The arguments of ``model.compile`` for the config's optimizer, losses and metrics.

    A distillation run compiles Keras's ``Distiller`` with the student's arguments.

    Losses and metrics the config leaves out come from each target's task. ``loss``,
    ``metrics`` and ``loss_weights`` may be mappings keyed by output layer name.

    Args:
        model: A model from :func:`dltrain.model.build_model`.
        config: The validated config.
        spec: The data spec (targets pair with the model's outputs in order).

    Raises:
        ConfigError: every problem found, each at its key path.
    """
    problems = ProblemList()
    names = output_names(model)
    targets = spec.targets
    if len(names) != len(targets):
        problems.add(
            ("model",),
            f"the model has {len(names)} outputs but the data has {len(targets)} targets",
        )
        problems.raise_if_any()
    optimizer = _optimizer(config.optimizer, problems)

    losses = _per_output(config.loss, names, ("loss",), problems)
    loss_list = []
    for name, target in zip(names, targets, strict=True):
        given, path = losses.get(name, (None, ("loss",)))
        loss_list.append(
            _lookup(_loss, given, path, problems) if given is not None else default_loss(target)
        )

    metric_specs = _per_output(config.metrics, names, ("metrics",), problems)
    metric_lists: list[list[Any]] = []
    for name, target in zip(names, targets, strict=True):
        given, path = metric_specs.get(name, (None, ("metrics",)))
        if given is None:
            metric_lists.append(default_metrics(target))
            continue
        metric_lists.append(
            [_lookup(_metric, m, path + (i,), problems) for i, m in enumerate(given)]
        )

    weights = None
    if config.loss_weights is not None:
        for key in config.loss_weights:
            if key not in names:
                problems.add(("loss_weights", key), _unknown_output(key, names))
        weights = [float(config.loss_weights.get(name, 1.0)) for name in names]
    problems.raise_if_any()

    _record_choices(config, names, loss_list, metric_lists, optimizer)
    # After the record: config.yaml shows the loss as configured, not its scaled wrapper.
    loss_list = [scaled_loss(loss, t) for loss, t in zip(loss_list, targets, strict=True)]
    single = len(names) == 1
    return {
        "optimizer": optimizer,
        "loss": loss_list[0] if single else loss_list,
        "loss_weights": weights,
        "metrics": metric_lists[0] if single else metric_lists,
        "steps_per_execution": config.training.steps_per_execution,
        "jit_compile": config.training.jit_compile,
    }


def _record_choices(
    config: ExperimentConfig,
    names: list[str],
    losses: list[Any],
    metrics: list[list[Any]],
    optimizer: Any,
) -> None:
    """Write the defaults chosen for the config back into it, so config.yaml shows them.

    A run folder's ``config.yaml`` then records everything the run used: the loss and metrics
    picked from the task, and the optimizer's own default learning rate.
    """
    def chosen(given: Any, values: list[Any]) -> Any:
        # Only what the config left out is filled in; those entries hold the defaults (text).
        if given is None:
            return values[0] if len(names) == 1 else dict(zip(names, values, strict=True))
        if isinstance(given, dict) and not isinstance(given, ObjectSpec):
            pairs = zip(names, values, strict=True)
            return {name: given[name] if name in given else value for name, value in pairs}
        return given

    config.loss = chosen(config.loss, losses)
    config.metrics = chosen(config.metrics, metrics)
    if config.optimizer.learning_rate is None and optimizer is not None:
        default = inspect.signature(type(optimizer)).parameters.get("learning_rate")
        if default is not None and isinstance(default.default, int | float):
            config.optimizer.learning_rate = float(default.default)


def _optimizer(cfg: OptimizerConfig, problems: ProblemList) -> Any:
    kwargs: dict[str, Any] = dict(cfg.model_extra or {})
    rate = cfg.learning_rate
    rate_ok = True
    if isinstance(rate, ObjectSpec):
        try:
            kwargs["learning_rate"] = resolve(
                SCHEDULE, rate.model_dump(), ("optimizer", "learning_rate")
            )
        except SpecError as error:
            problems.add_error(error)
            rate_ok = False
    elif rate is not None:
        kwargs["learning_rate"] = rate
    try:
        # Still checked without a usable schedule, so both problems are reported at once.
        optimizer = resolve(OPTIMIZER, {"class_name": cfg.name, "config": kwargs}, ("optimizer",))
    except SpecError as error:
        # The optimizer's own arguments sit directly under `optimizer`, not under `config`.
        path = tuple(p for p in error.path if p != "config")
        if path == ("optimizer", "class_name"):
            path = ("optimizer", "name")
        problems.add(path, error.message)
        return None
    return optimizer if rate_ok else None


def _per_output(
    value: Any, names: list[str], path: KeyPath, problems: ProblemList
) -> dict[str, tuple[Any, KeyPath]]:
    """Output name -> (setting, where it is written), for one setting or a per-output dict.

    A loss is a name or a ``{class_name, config}`` spec; per-output settings are dicts whose
    keys are output layer names.
    """
    if value is None:
        return {}
    if isinstance(value, dict) and not isinstance(value, ObjectSpec):
        out = {}
        for key, item in value.items():
            if key in names:
                out[key] = (item, path + (key,))
            else:
                problems.add(path + (key,), _unknown_output(key, names))
        return out
    return {name: (value, path) for name in names}


def _unknown_output(key: str, names: list[str]) -> str:
    return (
        f"the model has no output named {key!r}{did_you_mean(key, names)}; "
        f"outputs: {', '.join(names)}"
    )


def _lookup(
    check: Callable[[Any, KeyPath], Any], given: Any, path: KeyPath, problems: ProblemList
) -> Any:
    try:
        return check(given, path)
    except SpecError as error:
        problems.add_error(error)
        return None


def _loss(given: Any, path: KeyPath) -> Any:
    if isinstance(given, ObjectSpec):
        return resolve(LOSS, given.model_dump(), path)
    # Names Keras knows stay text (serialized as written, which reads best in saved configs);
    # registered names become the object, since compile's own lookup does not search them.
    return keras_identifier(LOSS, given, path)


def _metric(given: Any, path: KeyPath) -> Any:
    if isinstance(given, ObjectSpec):
        # A fresh object per output: Keras metrics hold state and cannot be shared.
        return resolve(METRIC, given.model_dump(), path)
    if given.lower() not in _ACCURACY_NAMES:
        return keras_identifier(METRIC, given, path)
    return given
