"""Adversarial examples: FGSM and PGD perturbations, and a model that trains on them.

Both attacks work on the *raw* input the saved model takes (its preprocessing, such as a
``Rescaling`` or a ``Normalization``, lies inside the model), so ``epsilon`` is in the units of
the data a user feeds ``predict``, and the gradient flows through the model's own
preprocessing (``tf.GradientTape`` on the raw float input).

* FGSM (Goodfellow et al., 2015): ``x + epsilon * sign(grad_x loss)``.
* PGD (Madry et al., 2018): a uniform random start inside the L-infinity ball of radius
  ``epsilon``, then ``steps`` steps of ``step_size * sign(grad)``, each projected back into the
  ball; seeded (stateless random numbers keyed by a seed pair), so it repeats exactly.

After each step the input is clipped to its valid range (:func:`input_bounds`). Integer inputs
(8-bit image folders) are perturbed as floats through a view of the model that takes floats
(:func:`float_view`, the same layers and weights), and the change is then cut to whole levels
towards the original, so a perturbed image is one a file could hold and never moves more than
``epsilon``.

:class:`AdversarialModel` wraps a compiled model for ``training.adversarial``: its
``train_step`` perturbs the first ``ratio`` share of each (shuffled) batch against the current
weights and trains on the mix; its ``save`` writes the inner model alone (as
:class:`dltrain.train.distill.StudentDistiller` does), so checkpoints, resume points, ``eval``,
``predict`` and ``export`` see an ordinary model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import keras

from dltrain.config.schema import ExperimentConfig

if TYPE_CHECKING:
    from dltrain.data.spec import DataSpec

__all__ = [
    "AdversarialModel",
    "Attack",
    "Bounds",
    "attack_blockers",
    "float_view",
    "input_bounds",
    "make_adversarial",
    "perturb",
]

Bounds = tuple[float, float] | None
"""The valid range of one raw input's values, or ``None``: unbounded (CSV numbers)."""


@dataclass(frozen=True)
class Attack:
    """One attack's settings, in the raw units of the model's input."""

    method: Literal["fgsm", "pgd"]
    epsilon: float | Any
    """A number, or a scalar tensor (one traced attack serves every epsilon)."""
    steps: int = 1
    """PGD's steps (FGSM: 1)."""
    step_size: float | Any = 0.0
    """PGD's step (FGSM steps by ``epsilon``); a number or a scalar tensor."""


def attack_blockers(spec: DataSpec) -> list[tuple[str, str]]:
    """The raw inputs a gradient attack cannot change (name, why); empty when there is none."""
    found = []
    for info in spec.raw_inputs:
        if info.dtype == "string":
            what = "text" if info.name in spec.text or _is_text(info, spec) else "categorical"
            found.append(
                (
                    info.name,
                    f"input {info.name!r} ({', '.join(info.columns) or info.name}) is {what}: "
                    "its values are strings, which have no gradient and no 'small change'; "
                    "adversarial perturbation needs every raw input to be numeric (images, "
                    "numeric CSV columns)",
                )
            )
    return found


def _is_text(info: Any, spec: DataSpec) -> bool:
    return any(column in spec.text for column in info.columns)


def input_bounds(spec: DataSpec, config: ExperimentConfig) -> dict[str, Bounds]:
    """Each raw input's valid range, by input name.

    Integer inputs span their type (``uint8`` image folders: 0..255). MNIST-format images are
    floats scaled by the pipeline: 0..1 (0..255 with ``scale: false``), the range
    augmentation clips to as well (:func:`dltrain.model.augment.value_range`). Audio waveforms:
    -1..1. CSV numbers are not clipped: a table's column has no natural bound (a price, a
    temperature), its training minimum and maximum are not a limit on what a user may feed
    ``predict``, and the model's ``Normalization`` accepts any value.
    """
    import numpy as np

    from dltrain.model.augment import value_range

    out: dict[str, Bounds] = {}
    for info in spec.raw_inputs:
        if info.dtype.startswith(("int", "uint")):
            out[info.name] = (0.0, float(np.iinfo(np.dtype(info.dtype)).max))
        elif spec.kind in ("mnist", "fashion_mnist", "image_folder"):
            out[info.name] = value_range(info, config)
        elif spec.kind == "audio_folder":
            out[info.name] = (-1.0, 1.0)
        else:
            out[info.name] = None
    return out


def float_view(model: keras.Model) -> keras.Model:
    """``model`` itself when every input is a float, else the same layers (and weights) called
    on float inputs: Keras casts a float fed to a ``uint8`` input, which stops the gradient."""
    inputs = list(model.inputs)
    if all(keras.backend.is_float_dtype(t.dtype) for t in inputs):
        return model
    floats = [
        keras.Input(shape=tuple(t.shape[1:]), dtype="float32", name=_input_name(t)) for t in inputs
    ]
    view = keras.models.clone_model(
        model,
        input_tensors=floats[0] if len(floats) == 1 else floats,
        clone_function=lambda layer: layer,  # share, do not copy
    )
    return view


def _input_name(tensor: Any) -> str:
    history = getattr(tensor, "_keras_history", None)
    layer = getattr(history, "operation", None)
    return str(getattr(layer, "name", None) or tensor.name)


def perturb(
    owner: keras.Model,
    view: keras.Model,
    attack: Attack,
    bounds: dict[str, Bounds],
    x: Any,
    y: Any,
    sample_weight: Any = None,
    seed: Any = None,
) -> Any:
    """``x`` moved to raise ``owner``'s compiled loss, within ``attack.epsilon`` (L-infinity).

    ``owner`` is the compiled model whose loss is raised; ``view`` computes its outputs on
    float inputs (:func:`float_view`). ``x`` is one tensor or a dict by raw input name, as the
    pipelines yield; the result has the same structure and dtypes. ``seed``: a shape-[2]
    integer tensor for PGD's random start (stateless, so a rerun draws the same).
    """
    import tensorflow as tf

    names = sorted(x) if isinstance(x, dict) else [None]
    leaves = [x[n] for n in names] if isinstance(x, dict) else [x]
    ranges = [bounds[n] if n is not None else next(iter(bounds.values())) for n in names]
    dtypes = [leaf.dtype for leaf in leaves]
    clean = [tf.cast(leaf, tf.float32) for leaf in leaves]
    eps = tf.cast(attack.epsilon, tf.float32)

    def pack(values: list[Any]) -> Any:
        return dict(zip(names, values, strict=True)) if isinstance(x, dict) else values[0]

    def signed_gradient(values: list[Any]) -> list[Any]:
        with tf.GradientTape() as tape:
            tape.watch(values)
            pred = view(pack(values), training=False)
            loss = owner.compute_loss(
                x=pack(values), y=y, y_pred=pred, sample_weight=sample_weight, training=False
            )
            loss = tf.cast(loss, tf.float32)
        return [tf.sign(g) for g in tape.gradient(loss, values)]

    def project(values: list[Any]) -> list[Any]:
        out = []
        for value, start, valid in zip(values, clean, ranges, strict=True):
            value = tf.clip_by_value(value, start - eps, start + eps)
            if valid is not None:
                value = tf.clip_by_value(value, valid[0], valid[1])
            out.append(value)
        return out

    if attack.method == "fgsm":
        adv = project([v + eps * g for v, g in zip(clean, signed_gradient(clean), strict=True)])
    else:
        base = tf.zeros([2], tf.int64) if seed is None else tf.cast(seed, tf.int64)
        start = [
            v + tf.random.stateless_uniform(tf.shape(v), base + i, -eps, eps)
            for i, v in enumerate(clean)
        ]
        step = tf.cast(attack.step_size, tf.float32)

        def body(i: Any, values: list[Any]) -> tuple[Any, list[Any]]:
            grads = signed_gradient(values)
            return i + 1, project([v + step * g for v, g in zip(values, grads, strict=True)])

        _, adv = tf.while_loop(
            lambda i, _: i < attack.steps, body, (tf.constant(0), project(start))
        )
    out = []
    for value, start, dtype in zip(adv, clean, dtypes, strict=True):
        if not dtype.is_floating:
            # Whole levels, cut towards the original: never more than epsilon away.
            delta = value - start
            value = start + tf.where(delta > 0, tf.floor(delta), tf.math.ceil(delta))
        out.append(tf.cast(value, dtype))
    return pack(out)


class _Untracked:
    """Holds a model without Keras tracking it (its weights are the wrapped model's)."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model


class AdversarialModel(keras.Model):
    """Trains ``inner`` on batches whose first ``ratio`` share is adversarially perturbed.

    PGD's random start is keyed by ``seed`` and the optimizer's step count, which the saved
    optimizer state holds: a resumed run draws what the uninterrupted one would have.
    """

    def __init__(
        self,
        inner: keras.Model,
        attack: Attack,
        ratio: float,
        bounds: dict[str, Bounds],
        seed: int,
    ) -> None:
        super().__init__(name=f"adversarial_{inner.name}")
        self.inner = inner
        names = getattr(inner, "output_names", None)
        if names:
            # Keras's compile names losses and metrics by it (``segment_accuracy``, not
            # ``accuracy``): the logged names are those of a run without the wrapper.
            self.output_names = list(names)
        self._view = _Untracked(float_view(inner))
        self._attack = attack
        self._ratio = ratio
        self._bounds = bounds
        self._seed = seed

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The inner model's outputs."""
        return self.inner(inputs, training=training)

    def train_step(self, data: Any) -> Any:
        """Perturb the head of the batch against the current weights, then train on all."""
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        first = tf.nest.flatten(x)[0]
        n = tf.shape(first)[0]
        k = tf.maximum(1, tf.cast(tf.round(self._ratio * tf.cast(n, tf.float32)), tf.int32))
        k = tf.minimum(k, n)

        def head(t: Any) -> Any:
            return tf.nest.map_structure(lambda v: v[:k], t)

        seed = tf.stack(
            [tf.constant(self._seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64)]
        )
        adv = perturb(
            self.inner,
            self._view.model,
            self._attack,
            self._bounds,
            head(x),
            head(y),
            None if sample_weight is None else head(sample_weight),
            seed,
        )
        mixed = tf.nest.map_structure(lambda a, c: tf.concat([a, c[k:]], axis=0), adv, x)
        return super().train_step((mixed, y, sample_weight))

    def save(self, filepath: Any, *args: Any, **kwargs: Any) -> None:
        """Write the inner model (with the optimizer it shares with this wrapper)."""
        self.inner.save(filepath, *args, **kwargs)

    @property
    def dltrain_student(self) -> keras.Model:
        """The model whose layers, weights and random state the run's files hold."""
        return self.inner


def make_adversarial(
    inner: keras.Model,
    config: ExperimentConfig,
    bounds: dict[str, Bounds],
    compile_args: dict[str, Any],
) -> AdversarialModel:
    """Wrap a compiled ``inner`` model for ``training.adversarial`` and compile the wrapper.

    ``compile_args`` are the inner model's (:func:`dltrain.model.compile.compile_arguments`);
    the optimizer is the inner model's own, so the model saved later carries its state.

    Raises:
        ValueError: Keras refused the compile arguments for the wrapper (the caller locates it).
    """
    from dltrain.config.adversarial_schema import pgd_step_size

    cfg = config.training.adversarial
    assert cfg is not None
    attack = Attack(
        cfg.method,
        cfg.epsilon,
        cfg.steps if cfg.method == "pgd" else 1,
        pgd_step_size(cfg.epsilon, cfg.steps, cfg.step_size) if cfg.method == "pgd" else 0.0,
    )
    model = AdversarialModel(inner, attack, cfg.ratio, bounds, config.seed)
    args = dict(compile_args)
    args["optimizer"] = inner.optimizer
    model.compile(**args)
    model.jit_compile = inner.jit_compile  # the run's choice (dltrain.model.jit)
    return model
