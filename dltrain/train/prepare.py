"""Before training: seed, strategy, data, model; then one batch proves it all fits together."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.config import LoadedConfig
from dltrain.config.schema import ExperimentConfig
from dltrain.errors import ConfigError, Problem, first_line
from dltrain.train.environment import configure_environment, make_strategy
from dltrain.utils.keys import KeyPath, did_you_mean, format_path

if TYPE_CHECKING:
    import keras

    from dltrain.config.precision import PrecisionChoice
    from dltrain.data import Datasets
    from dltrain.model.jit import JitChoice
    from dltrain.train.methodology import Finding
    from dltrain.train.monitors import Mode

__all__ = ["CallbackPlan", "Prepared", "Watch", "dry_run", "plan_callbacks", "prepare"]


@dataclass
class Prepared:
    """The data, the compiled model and the distribution strategy of one run."""

    datasets: Datasets
    model: keras.Model
    strategy: Any
    multi_worker: bool
    jit: JitChoice
    precision: PrecisionChoice
    from_checkpoint: bool = False
    """The model was loaded from a checkpoint (``--resume``), not built from the config."""
    rewrap: Callable[[keras.Model], keras.Model] | None = None
    """Set by ``distill``: wraps a student loaded from a checkpoint (a rollback) as ``model``
    was wrapped (:func:`dltrain.engine.distill.attach_teacher`)."""

    def session(self) -> AbstractContextManager[None]:
        """Where the model may train, evaluate and predict (multi-worker needs patches)."""
        if not self.multi_worker:
            return nullcontext()
        from dltrain.train.distributed import multi_worker_fit

        batch = next(iter(self.datasets.test_dataset(self.datasets.batch_size).take(1)))
        return multi_worker_fit(self.model, self.strategy, batch)


@dataclass(frozen=True)
class Watch:
    """The logged metric a callback watches, and which way is better."""

    monitor: str
    """As logged: ``val_loss``, or ``loss`` when a ``val_`` metric has no validation data."""
    mode: Mode


@dataclass(frozen=True)
class CallbackPlan:
    """The callbacks as :func:`dry_run` checked them, for :func:`~dltrain.train.loop.fit_model`.

    Monitors and ``mode: auto`` are resolved, and ``callbacks.extra`` is constructed, here and
    only here: a user callback's constructor runs once per run, and what training uses is
    what was checked.
    """

    logged: tuple[str, ...]
    """The metric names one evaluation step logs (without ``val_``)."""
    checkpoint: Watch
    early_stopping: Watch | None = None
    """Set when ``callbacks.early_stopping`` is."""
    reduce_lr: Watch | None = None
    """Set when ``callbacks.reduce_lr`` is."""
    extra: tuple[keras.callbacks.Callback, ...] = ()
    """``callbacks.extra``, constructed in order."""
    findings: tuple[Finding, ...] = ()
    """What the methodology checks found (warnings; errors under ``checks.strict``)."""


def _problem(key: KeyPath, message: str) -> Problem:
    return Problem(message, path=format_path(key), key=key)


def prepare(
    loaded: LoadedConfig, model_path: Path | None = None, recorded_policy: str | None = None
) -> Prepared:
    """Seed, load the data, build and compile the model (or load it from a checkpoint).

    ``recorded_policy``: the dtype policy a resumed run recorded, kept whatever ``precision:
    auto`` would choose on this machine (a checkpoint's layers keep the policy they were
    trained with; new ones must match them).

    Raises:
        ConfigError, DataError, CheckpointError: located in the config where they can be.
    """
    from dltrain.config.precision import PrecisionChoice, decide_precision
    from dltrain.data.ahead import loading_ahead

    cfg = loaded.config
    multi_worker = cfg.distribute.strategy == "multi_worker_mirrored"
    if multi_worker:
        from dltrain.train.distributed import worker_role

        worker_role()  # fails early, with advice, when TF_CONFIG is missing
        if cfg.training.on_nan == "rollback":
            raise ConfigError(
                problems=[
                    loaded.problem(
                        ("training", "on_nan"),
                        "on_nan: rollback is not supported with multi_worker_mirrored (a "
                        "rollback swaps in a model loaded mid-fit, which every worker would "
                        "have to rebuild in the strategy's scope at the same step); use stop, "
                        "then --resume with a lower optimizer.learning_rate and --force",
                    )
                ]
            )
    # The data is read while TensorFlow is imported (make_strategy imports it): nothing
    # above may import TensorFlow or Keras.
    with loading_ahead(cfg, source=loaded.source) as loaded_data:
        # The strategy comes first: a multi-worker strategy must exist before other TF work.
        strategy = make_strategy(
            cfg.distribute.strategy, cfg.distribute.device, cfg.distribute.devices
        )
        if recorded_policy is None:
            precision = decide_precision(cfg)
        else:
            precision = PrecisionChoice(cfg.precision, recorded_policy, "resumed: the run's policy")
        configure_environment(cfg.seed, cfg.deterministic, precision.policy)
        datasets = loaded_data()
    from dltrain.model import build_model, compile_model, load_model_file
    from dltrain.model.jit import apply_jit, decide_jit

    with strategy.scope(), loaded.located():
        if model_path is not None:
            model = load_model_file(model_path)
        else:
            model = build_model(cfg, datasets.spec)
            compile_model(model, cfg, datasets.spec)
    jit = decide_jit(
        model,
        cfg.training.jit_compile,
        deterministic=cfg.deterministic,
        distributed=cfg.distribute.strategy != "default",
    )
    apply_jit(model, jit)
    return Prepared(datasets, model, strategy, multi_worker, jit, precision, model_path is not None)


@contextmanager
def _outputs_fit_targets(loaded: LoadedConfig) -> Iterator[None]:
    import tensorflow as tf

    try:
        yield
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as exc:
        first = first_line(exc)
        where = ("loss",) if ("loss",) in loaded.source.locations else ("model",)
        raise ConfigError(
            problems=[
                loaded.problem(where, f"the model's outputs do not fit the data's targets: {first}")
            ]
        ) from exc


def dry_run(loaded: LoadedConfig, prepared: Prepared) -> CallbackPlan:
    """Evaluate one batch: proves outputs fit targets and learns the logged metric names.

    Returns the callbacks as checked against those names, for training to use.

    Raises:
        ConfigError: the outputs do not fit the targets, or a callback cannot work.
    """
    datasets = prepared.datasets
    batch = datasets.test_dataset(min(datasets.batch_size, 64)).take(1)
    model = prepared.model
    with _outputs_fit_targets(loaded):
        if loaded.config.distribute.strategy == "default":
            # One eager test step: the same checks as ``evaluate`` without tracing (and, with
            # XLA, compiling) a test function for a batch shape training never uses.
            logs = model.test_step(next(iter(batch)))
            model.reset_metrics()
        else:
            logs = model.evaluate(batch, return_dict=True, verbose=0)
    names = list(logs)
    with loaded.located():
        plan = plan_callbacks(loaded.config, prepared.model, names, datasets.validation_size > 0)
        _check_class_weight(loaded.config, datasets)
        _check_fine_tune(loaded.config, None if prepared.from_checkpoint else model)
    from dltrain.train.checks import methodology_findings, raise_if_strict

    first_loss = None if prepared.from_checkpoint else float(logs["loss"])
    findings = methodology_findings(loaded.config, model, datasets, first_loss)
    raise_if_strict(loaded.config, findings)
    return replace(plan, findings=tuple(findings))


def plan_callbacks(
    cfg: ExperimentConfig, model: keras.Model, names: list[str], has_validation: bool
) -> CallbackPlan:
    """Resolve what the callbacks watch and build ``callbacks.extra``, or say why they cannot work.

    Fails before training on a monitored metric that will never be logged, a direction
    ``mode: auto`` cannot tell, reduce-LR on a schedule, TensorBoard without its package, an
    unknown ``callbacks.extra`` class or arguments its constructor rejects.

    Raises:
        ConfigError: at the callback's key path (and the metrics that exist).
    """
    from dltrain.train.monitors import monitored_name, resolve_mode

    logged = list(names) + ([f"val_{n}" for n in names] if has_validation else [])
    callbacks = cfg.callbacks
    problems: list[Problem] = []
    if callbacks.tensorboard is not None and importlib.util.find_spec("tensorboard") is None:
        problems.append(
            _problem(
                ("callbacks", "tensorboard"),
                "TensorBoard logs need the tensorboard package: "
                "pip install 'dltrain[tensorboard]' (or pip install tensorboard)",
            )
        )
    schedule = cfg.optimizer.learning_rate
    if callbacks.reduce_lr is not None and schedule is not None and not isinstance(schedule, float):
        problems.append(
            _problem(
                ("callbacks", "reduce_lr"),
                "reduce_lr cannot change a learning-rate schedule; use a constant "
                "optimizer.learning_rate or drop reduce_lr",
            )
        )
    sections: list[tuple[str, Any]] = [
        ("checkpoint", callbacks.checkpoint),
        ("early_stopping", callbacks.early_stopping),
        ("reduce_lr", callbacks.reduce_lr),
    ]
    watches: dict[str, Watch] = {}
    for section, spec in sections:
        if spec is None:
            continue
        monitor = monitored_name(spec.monitor, has_validation)
        if monitor not in logged:
            problems.append(
                _problem(
                    ("callbacks", section, "monitor"),
                    f"metric {spec.monitor!r} is never logged{did_you_mean(monitor, logged)}; "
                    f"logged: {', '.join(logged)}",
                )
            )
            continue
        try:
            mode = resolve_mode(model, monitor, spec.mode, ("callbacks", section, "mode"))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        watches[section] = Watch(monitor, mode)
    if problems:
        raise ConfigError(problems=problems)
    from dltrain.train.extra_callbacks import build_extra_callbacks

    return CallbackPlan(
        logged=tuple(names),
        checkpoint=watches["checkpoint"],
        early_stopping=watches.get("early_stopping"),
        reduce_lr=watches.get("reduce_lr"),
        extra=tuple(build_extra_callbacks(cfg)),  # unknown names and bad arguments, now
    )


def _check_fine_tune(cfg: ExperimentConfig, model: keras.Model | None) -> None:
    from dltrain.train.fine_tune import fine_tune_problems

    problems = fine_tune_problems(cfg, model)
    if problems:
        raise ConfigError(problems=problems)


def _check_class_weight(cfg: ExperimentConfig, datasets: Datasets) -> None:
    if cfg.training.class_weight is None:
        return
    targets = datasets.spec.targets
    if len(targets) != 1 or targets[0].task == "regression":
        raise ConfigError(
            problems=[
                _problem(
                    ("training", "class_weight"),
                    "class_weight needs exactly one classification target; received "
                    + ", ".join(f"{t.name} ({t.task})" for t in targets),
                )
            ]
        )
