"""Knowledge distillation on Keras's own ``keras.distillation``: the student trains, the teacher
is frozen, and every file the run writes holds the student alone.

:class:`StudentDistiller` is ``keras.distillation.Distiller`` with one change: ``save`` writes
the student (with the distiller's optimizer, which the student is compiled with). So
``best.keras``, ``last.keras`` and each resume point are ordinary models of the config, which
``eval``, ``predict``, ``explain`` and ``export`` read as any run's, and ``--resume`` loads
the student and wraps it again.

Softmax outputs. ``LogitsDistillation`` divides *logits* by the temperature. A classifier
whose last layer applies softmax outputs probabilities ``p = softmax(z)``; ``log(p) = z -
logsumexp(z)`` is ``z`` shifted by one constant per example, and softmax ignores such a shift,
so ``softmax(log(p) / T) = softmax(z / T)``: the same soft targets as from the logits.
Probabilities are clipped at Keras's epsilon (1e-7) before the log, so a class the model is
more than ~16 nats sure against contributes as if at that bound. Any other output activation
(sigmoid, relu, ...) is refused: it has no logits to recover.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import keras

from dltrain.config.schema import DistillConfig

__all__ = [
    "OutputKind",
    "StudentDistiller",
    "make_distiller",
    "output_kind",
    "student_of",
]

OutputKind = Literal["logits", "softmax"]


def output_kind(model: keras.Model) -> OutputKind | str:
    """``logits`` (a linear last layer), ``softmax``, or the activation's name otherwise."""
    names = getattr(model, "output_names", None)
    layer = model.get_layer(names[0]) if names else model.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return type(layer).__name__
    name = keras.activations.serialize(activation)
    name = name if isinstance(name, str) else str(getattr(activation, "__name__", name))
    if name == "softmax":
        return "softmax"
    return "logits" if name == "linear" else name


class _SoftTargets(keras.distillation.LogitsDistillation):
    """``LogitsDistillation`` that first turns softmax outputs back into logits (see above)."""

    def __init__(self, temperature: float, teacher: OutputKind, student: OutputKind) -> None:
        # An instance, not "kl_divergence": Keras applies the softmax only for a KLDivergence
        # instance (the string resolves to the bare function, which would compare logits).
        super().__init__(temperature=temperature, loss=keras.losses.KLDivergence())
        self._kinds = (teacher, student)

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Any:
        teacher, student = self._kinds
        return super().compute_loss(
            _logits(teacher_outputs, teacher), _logits(student_outputs, student), **kwargs
        )


def _logits(outputs: Any, kind: OutputKind) -> Any:
    if kind == "logits":
        return outputs
    eps = keras.config.epsilon()
    return keras.ops.log(keras.ops.clip(outputs, eps, 1.0))


class StudentDistiller(keras.distillation.Distiller):
    """``keras.distillation.Distiller`` whose ``save`` writes the student alone."""

    def save(self, filepath: Any, *args: Any, **kwargs: Any) -> None:
        """Write the student (and the optimizer it shares with this distiller)."""
        self.student.save(filepath, *args, **kwargs)

    @property
    def dltrain_student(self) -> keras.Model:
        """The model whose layers, weights and random state the run's files hold."""
        return self.student


def student_of(model: keras.Model) -> keras.Model:
    """The model a run's files and test results are about: the student of a distiller (or
    the inner model of any wrapper that names it ``dltrain_student``, such as
    :class:`dltrain.train.adversarial.AdversarialModel`)."""
    inner = getattr(model, "dltrain_student", model)
    return inner if isinstance(inner, keras.Model) else model


def make_distiller(
    student: keras.Model,
    teacher: keras.Model,
    config: DistillConfig,
    compile_args: dict[str, Any],
    kinds: tuple[OutputKind, OutputKind],
) -> StudentDistiller:
    """Wrap a compiled ``student`` and a frozen ``teacher`` into a compiled distiller.

    ``compile_args`` are the student's (:func:`dltrain.model.compile.compile_arguments`); the
    optimizer is the student's own, so the student saved later carries its state.

    Raises:
        ValueError: Keras refused the pair (shapes, layer names): the caller locates it.
    """
    teacher.trainable = False
    losses: list[Any] = [_SoftTargets(config.temperature, *kinds)]
    losses += [
        keras.distillation.FeatureDistillation(
            loss="mse", teacher_layer_name=pair.teacher, student_layer_name=pair.student
        )
        for pair in config.features
    ]
    distiller = StudentDistiller(
        teacher=teacher,
        student=student,
        distillation_losses=losses,
        distillation_loss_weights=[1.0] * len(losses),
        student_loss_weight=config.alpha,
    )
    args = dict(compile_args)
    args["optimizer"] = student.optimizer
    args.pop("loss_weights", None)
    distiller.compile(**args)
    distiller.jit_compile = student.jit_compile  # the run's choice (dltrain.model.jit)
    return distiller


def feature_shapes(model: keras.Model, names: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """Each named layer's output shape (``KeyError`` for a name the model lacks)."""
    out: dict[str, tuple[Any, ...]] = {}
    for name in names:
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise KeyError(name) from None
        out[name] = tuple(layer.output.shape[1:])
    return out
