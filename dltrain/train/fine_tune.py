"""``training.fine_tune``: phase 2 of transfer learning, started inside the one ``fit`` loop.

Keras's transfer-learning guide trains in two phases: the new top on a frozen backbone, then
the backbone unfrozen (BatchNormalization layers kept frozen, so their statistics and
inference mode stay) at a lower learning rate. Here phase 1 is epochs ``[0, after_epoch)``;
at epoch ``after_epoch`` :class:`FineTunePhases` unfreezes and recompiles once, and the loop
fits on to ``training.epochs``.

What ``unfreeze`` counts:

- A *backbone* is a nested model at the model's top level (a ``Sequential:`` block, a
  keras.applications model) holding at least one frozen layer with weights. ``all`` unfreezes
  everything in it; ``K`` its own last K layers (each with all it contains), counted from its
  end; its earlier layers keep their flags.
- Frozen plain layers at the top level, in a model without a backbone: ``all`` unfreezes
  each; ``K`` the last K of them. Beside a backbone they stay frozen: there they are fixed
  parts, such as the 1x1 convolution of a caffe-mode backbone's ``preprocess: auto``.

Exact resume needs nothing extra: a resume point is saved at the end of every epoch, so the
one at ``after_epoch`` holds the phase-1 model, and any later one the phase-2 model with its
trainable flags and optimizer. A run that starts (or rolls back) at ``after_epoch`` switches
there; one past it is in phase 2 already; one before it fits up to it first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dltrain.config.schema import ExperimentConfig, ObjectSpec
from dltrain.errors import Problem
from dltrain.storage.manifest import FineTuneRecord, Rollback
from dltrain.utils.keys import KeyPath, format_path

if TYPE_CHECKING:
    import keras

    from dltrain.data.spec import DataSpec

__all__ = [
    "FineTunePhases",
    "fine_tune_problems",
    "phase_two_learning_rate",
    "start_fine_tune",
    "unfreeze_layers",
]

_KEY: KeyPath = ("training", "fine_tune")


def _problem(key: KeyPath, message: str) -> Problem:
    return Problem(message, path=format_path(key), key=key)


def fine_tune_problems(cfg: ExperimentConfig, model: keras.Model | None = None) -> list[Problem]:
    """What keeps ``training.fine_tune`` from working, each at its key path.

    Args:
        cfg: The validated config.
        model: The model as built from the config (phase 1); ``None`` when it was loaded from
            a resume point, which may be in phase 2 already and so has nothing left to
            unfreeze.
    """
    ft = cfg.training.fine_tune
    if ft is None:
        return []
    problems: list[Problem] = []
    epochs = cfg.training.epochs
    if ft.after_epoch >= epochs:
        problems.append(
            _problem(
                (*_KEY, "after_epoch"),
                f"phase 2 would never start: after_epoch must be less than training.epochs "
                f"({epochs}); received: after_epoch={ft.after_epoch}",
            )
        )
    if ft.learning_rate is None and isinstance(cfg.optimizer.learning_rate, ObjectSpec):
        problems.append(
            _problem(
                (*_KEY, "learning_rate"),
                "optimizer.learning_rate is a schedule, so phase 2 has no 'tenth of it'; set "
                "fine_tune.learning_rate (phase 2 then trains at that constant rate)",
            )
        )
    if cfg.distribute.strategy == "multi_worker_mirrored":
        problems.append(
            _problem(
                _KEY,
                "fine_tune is not supported with multi_worker_mirrored (phase 2 recompiles "
                "the model mid-run, which every worker would have to do at the same step); "
                "train phase 1, then start a second run with init_from",
            )
        )
    if model is not None and _count(model, _targets(model, ft.unfreeze)[1]) == 0:
        what = (
            "no layer of the model is frozen"
            if ft.unfreeze == "all" or _count(model, _targets(model, "all")[1]) == 0
            else f"the last {ft.unfreeze} layers it would unfreeze are trainable already"
        )
        problems.append(
            _problem(
                (*_KEY, "unfreeze"),
                f"nothing to unfreeze: {what} (phase 1 trains the layers with trainable: "
                "true; set trainable: false on those phase 2 should unfreeze, e.g. a "
                "pretrained backbone)",
            )
        )
    return problems


def phase_two_learning_rate(cfg: ExperimentConfig) -> float:
    """``fine_tune.learning_rate``, else a tenth of the configured (phase-1) learning rate.

    The configured rate, not the optimizer's rate at the switch: a ``reduce_lr`` cut in phase
    1 does not carry over (reduce-LR keeps watching and may cut phase 2's rate in turn).
    """
    ft = cfg.training.fine_tune
    assert ft is not None
    if ft.learning_rate is not None:
        return float(ft.learning_rate)
    rate = cfg.optimizer.learning_rate
    if rate is None:  # not compiled from this config yet: the optimizer's own default
        from dltrain.model import build_optimizer
        from dltrain.train.hints import current_learning_rate

        rate = current_learning_rate(_Holder(build_optimizer(cfg)))
    assert isinstance(rate, int | float), "fine_tune_problems refuses a schedule without a rate"
    return float(rate) / 10


class _Holder:
    """Something with an ``optimizer``, for :func:`current_learning_rate`."""

    def __init__(self, optimizer: Any) -> None:
        self.optimizer = optimizer


def start_fine_tune(
    model: keras.Model, cfg: ExperimentConfig, spec: DataSpec, *, scale: float = 1.0
) -> FineTuneRecord:
    """Unfreeze as ``training.fine_tune`` says and recompile ``model`` for phase 2, in place.

    The loss, metrics, steps per execution and the run's XLA choice stay as in phase 1; the
    optimizer is a fresh one of the configured kind and arguments at
    :func:`phase_two_learning_rate` (times ``scale``, after NaN rollbacks).
    """
    from dltrain.model import compile_model

    ft = cfg.training.fine_tune
    assert ft is not None
    rate = phase_two_learning_rate(cfg) * scale
    count = unfreeze_layers(model, ft.unfreeze)
    optimizer = cfg.optimizer.model_copy(update={"learning_rate": rate})
    phase_two = cfg.model_copy(update={"optimizer": optimizer})  # compile_model writes into it
    jit = model.jit_compile
    with model.distribute_strategy.scope():  # the new optimizer's variables, as in phase 1
        compile_model(model, phase_two, spec)
    model.jit_compile = jit  # the run's decision (run.json), not the config's "auto"
    return FineTuneRecord(at_epoch=ft.after_epoch, unfrozen_layers=count, learning_rate=rate)


def unfreeze_layers(model: keras.Model, unfreeze: str | int) -> int:
    """Make the layers ``unfreeze`` names trainable (``all`` or K, see the module docstring).

    BatchNormalization layers that were frozen stay frozen. Returns how many layers with
    weights became trainable.
    """
    import keras

    backbones, targets = _targets(model, unfreeze)
    before = {id(layer): trains for layer, trains in _walk(model)}
    frozen_before = _frozen(model)
    for backbone in backbones:
        # Unfreezing a layer inside a frozen model needs the model itself trainable (Keras
        # reads the flags of every ancestor); its layers outside the target keep their state.
        backbone.trainable = True
        for layer in _own_layers(backbone):
            if not any(layer is t for t in targets):
                for inner, _ in _walk(layer):  # pre-order: a model first, then its layers
                    inner.trainable = before[id(inner)]
    for target in targets:
        target.trainable = True
        for inner, _ in _walk(target):
            if isinstance(inner, keras.layers.BatchNormalization) and not before[id(inner)]:
                inner.trainable = False
    return len(frozen_before - _frozen(model))


class FineTunePhases:
    """Which phase the fit loop is in, and the one switch between them."""

    def __init__(self, cfg: ExperimentConfig) -> None:
        self.cfg = cfg
        self._switched: Any = None

    def fit_until(self, epoch: int) -> int:
        """The epoch the pass that starts at ``epoch`` fits up to."""
        ft = self.cfg.training.fine_tune
        if ft is not None and epoch < ft.after_epoch:
            return ft.after_epoch
        return self.cfg.training.epochs

    def switch_if_due(
        self, model: keras.Model, epoch: int, spec: DataSpec, rollbacks: Sequence[Rollback] = ()
    ) -> FineTuneRecord | None:
        """Start phase 2 on ``model`` when a pass starts at ``after_epoch`` with a phase-1 model.

        A model loaded for a rollback to ``after_epoch`` is a phase-1 model again and switches
        again, at phase 2's rate times ``rollback_factor`` per such rollback (else it would
        diverge the same way again); the model this switched already never switches.
        """
        ft = self.cfg.training.fine_tune
        if ft is None or epoch != ft.after_epoch or model is self._switched:
            return None
        back = sum(1 for r in rollbacks if r.resumed_from_epoch == epoch)
        record = start_fine_tune(
            model, self.cfg, spec, scale=self.cfg.training.rollback_factor**back
        )
        self._switched = model
        return record


# ---------------------------------------------------------------------------- layer walks


def _own_layers(model: Any) -> list[Any]:
    import keras

    # A functional model lists its InputLayer; it is no layer to count or unfreeze.
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _walk(layer: Any, parent: bool = True) -> Iterator[tuple[Any, bool]]:
    """``layer`` and every layer inside it (pre-order), each with whether it trains now."""
    import keras

    trains = parent and bool(layer.trainable)
    yield layer, trains
    if isinstance(layer, keras.Model):
        for inner in _own_layers(layer):
            yield from _walk(inner, trains)


def _frozen(model: Any) -> set[int]:
    """The layers with weights (not models, not BatchNormalization) that do not train now."""
    import keras

    return {
        id(layer)
        for layer, trains in _walk(model)
        if not trains
        and layer.weights
        and not isinstance(layer, keras.Model | keras.layers.BatchNormalization)
    }


def _count(model: Any, targets: list[Any]) -> int:
    """How many frozen layers unfreezing ``targets`` would reach."""
    frozen = _frozen(model)
    return len({id(inner) for t in targets for inner, _ in _walk(t)} & frozen)


def _targets(model: Any, unfreeze: str | int) -> tuple[list[Any], list[Any]]:
    """The backbones to open, and the layers to unfreeze (whole, BatchNormalization aside)."""
    import keras

    frozen = _frozen(model)
    backbones: list[Any] = []
    targets: list[Any] = []
    plain: list[Any] = []
    for layer in _own_layers(model):
        if isinstance(layer, keras.Model):
            if any(id(inner) in frozen for inner, _ in _walk(layer)):
                backbones.append(layer)
                own = _own_layers(layer)
                targets.extend(own if unfreeze == "all" else own[-int(unfreeze) :])
        elif id(layer) in frozen:
            plain.append(layer)
    if not backbones:  # beside a backbone, frozen plain layers are fixed parts (preprocessing)
        targets.extend(plain if unfreeze == "all" else plain[-int(unfreeze) :])
    return backbones, targets
