"""``training.jit_compile: auto``: whether XLA compiles this model's steps, decided per model.

Keras's own ``auto`` turns XLA off on every CPU-only machine. Measured on CPU
(docs/benchmarks.md), XLA makes models of dense layers faster (the classic MNIST MLP: 1.26x
per epoch, and 1.3x more with oneDNN's kernels: XLA fuses the small matrix products, the
bias, the activation and Adam's update into few kernels), but convolutions about 2x slower.
An LSTM trains faster with XLA too, now that an execution's steps run as one XLA program
(:mod:`dltrain.train.executions`): the Fashion-MNIST LSTM trained 1.21-1.29x faster over 3
epochs than without XLA, the first epoch's compilation included; a run resumed after SIGKILL
repeats an uninterrupted one bit for bit under XLA (``tests/test_executions_runs.py``). Other
recurrent layers (GRU, SimpleRNN, Bidirectional wrappers) were not measured and stay off.
On CPU dltrain compiles with XLA exactly when every layer is of a kind measured to gain;
with a GPU it keeps Keras's rule (XLA when every layer supports it). The decision and its
reason are recorded in ``run.json`` (``jit_compile``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

__all__ = ["CPU_XLA_LAYERS", "JitChoice", "apply_jit", "decide_jit"]

# Layer classes with no convolution: XLA fuses them well on CPU (measured on the MLP; the
# others are elementwise, reshaping or merging layers that XLA fuses the same way), and the
# LSTM (measured on the Fashion-MNIST LSTM; its cell is listed as a layer of its own).
CPU_XLA_LAYERS = frozenset(
    {
        "InputLayer",
        "LSTM",
        "LSTMCell",
        "Dense",
        "EinsumDense",
        "Flatten",
        "Reshape",
        "Permute",
        "RepeatVector",
        "Dropout",
        "AlphaDropout",
        "GaussianDropout",
        "GaussianNoise",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "BatchNormalization",
        "LayerNormalization",
        "UnitNormalization",
        "Rescaling",
        "Identity",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
        "Concatenate",
        "Dot",
        "ActivityRegularization",
    }
)


@dataclass(frozen=True)
class JitChoice:
    """What ``training.jit_compile`` asked for, what the run uses, and why."""

    setting: bool | str
    enabled: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The ``run.json`` record."""
        return {"setting": self.setting, "enabled": self.enabled, "reason": self.reason}


def decide_jit(
    model: keras.Model,
    setting: bool | str,
    *,
    deterministic: bool,
    distributed: bool,
    accelerators: list[str] | None = None,
) -> JitChoice:
    """Decide whether ``model``'s train, test and predict steps are compiled with XLA.

    Args:
        model: The built model.
        setting: ``training.jit_compile``: ``True``, ``False`` or ``"auto"``.
        deterministic: ``deterministic: true`` (TensorFlow's op determinism excludes XLA).
        distributed: A ``tf.distribute`` strategy other than the default one is in use.
        accelerators: Device types other than CPU (``None``: ask TensorFlow).
    """
    from keras.src.trainers.trainer import model_supports_jit

    if setting is False:
        return JitChoice(setting, False, "jit_compile: false")
    supported = model_supports_jit(model)
    if setting is True:
        if not supported:
            return JitChoice(setting, False, _unsupported(model, deterministic))
        return JitChoice(setting, True, "jit_compile: true")
    if not supported:
        return JitChoice(setting, False, _unsupported(model, deterministic))
    if distributed:
        return JitChoice(setting, False, "auto: Keras does not combine XLA with tf.distribute")
    if accelerators is None:
        import tensorflow as tf

        accelerators = sorted(
            {d.device_type for d in tf.config.list_physical_devices() if d.device_type != "CPU"}
        )
    if accelerators:
        return JitChoice(
            setting, True, f"auto: {'/'.join(accelerators)} present and every layer supports XLA"
        )
    kinds = sorted({type(layer).__name__ for layer in _layers(model)})
    others = [kind for kind in kinds if kind not in CPU_XLA_LAYERS]
    if others:
        return JitChoice(
            setting,
            False,
            f"auto: CPU only, and XLA is on only for dense, elementwise or LSTM layers "
            f"(this model has {', '.join(others)})",
        )
    listed = ", ".join(kinds)
    return JitChoice(
        setting, True, f"auto: CPU only, and every layer ({listed}) is dense, elementwise or LSTM"
    )


def apply_jit(model: keras.Model, choice: JitChoice) -> None:
    """Set the model's XLA use; a loaded checkpoint's own compile setting is replaced."""
    import warnings

    with warnings.catch_warnings():
        # Keras warns when a model does not support XLA; the choice already accounts for it.
        warnings.simplefilter("ignore")
        model.jit_compile = choice.enabled


def _layers(model: keras.Model) -> list[Any]:
    import keras

    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if not isinstance(layer, keras.Model)
    ]


def _unsupported(model: keras.Model, deterministic: bool) -> str:
    if deterministic:
        return "deterministic: true (TensorFlow's op determinism does not cover XLA)"
    layers = _layers(model)
    names = sorted({type(x).__name__ for x in layers if not getattr(x, "supports_jit", True)})
    return f"the {', '.join(names) or 'model'} layers do not support XLA"
