"""``precision: auto``: the Keras dtype policy chosen per device and model, from evidence.

bfloat16 computes a convolution's products at half the width, which pays only where the
hardware has bfloat16 matrix units: CPUs with AMX (``amx_bf16``) or AVX512-BF16
(``avx512_bf16``), and GPUs of compute capability 8.0 (Ampere) or later. Where there are none
it is emulated: on an AVX2 CPU the shipped CNNs trained 5.7-6.5x *slower* per epoch in
``mixed_bfloat16`` than in float32, the MLP and the LSTM 1.2x slower (docs/benchmarks.md,
"Precision"). On an AMX CPU the primer's CNN shape ran 1.9x faster per epoch (issue 29's
probe). Test accuracy moved by at most 0.18 points for any of the four shipped families over
three seeds (the same table), so accuracy does not decide; speed does, and a gain was shown
only for convolutions. ``auto`` therefore gives bfloat16 only to convolutional image models on
such a device, and float32 to everything else (audio spectrograms and text were not
measured). The output layers stay float32 in every mixed policy (``dltrain.model.build``), so
losses are.

The choice is made before the model is built (Keras layers take the global policy when they
are created), from the config's layers and data kind, and recorded in ``run.json``
(``precision``) with its reason, as ``jit_compile`` is. A checkpoint keeps the policy it was
trained with: each layer saves its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dltrain.config.schema import ExperimentConfig, LayerSpec

__all__ = [
    "BF16_CPU_FLAGS",
    "Device",
    "PrecisionChoice",
    "cpu_flags",
    "decide_precision",
    "detect_device",
    "recorded_policy",
    "resolved_policy",
]

BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
"""/proc/cpuinfo flags of CPUs with bfloat16 matrix instructions."""
IMAGE_KINDS = frozenset({"mnist", "fashion_mnist", "image_folder"})
"""Data kinds whose models the evidence covers (images)."""

_CONVOLUTION = re.compile(r"^(Depthwise|Separable)?Conv[123]D(Transpose)?$")
_RECURRENT = re.compile(r"(LSTM|GRU|RNN|Bidirectional)")
# Layers that neither decide nor spoil the choice: dense, pooling, normalization, reshaping,
# merging, regularization, activations and the image preprocessing and augmentation layers.
_NEUTRAL = re.compile(
    r"^(Input(Layer)?|Dense|EinsumDense|Flatten|Reshape|Permute|RepeatVector|Cropping[123]D|"
    r"ZeroPadding[123]D|UpSampling[123]D|(Max|Average|GlobalMax|GlobalAverage)Pooling[123]D|"
    r"(Spatial|Alpha|Gaussian)?Dropout([123]D)?|GaussianNoise|Activation|ReLU|LeakyReLU|PReLU|"
    r"ELU|Softmax|(Batch|Layer|Group|Unit)Normalization|Rescaling|Resizing|CenterCrop|"
    r"Random\w+|Identity|Add|Subtract|Multiply|Average|Maximum|Minimum|Concatenate|Dot|"
    r"ActivityRegularization|Sequential)$"
)


@dataclass(frozen=True)
class Device:
    """What the choice needs to know of the machine."""

    cpu_flags: frozenset[str] | None
    """The CPU's flags (None where /proc/cpuinfo cannot be read)."""
    gpus: tuple[tuple[str, tuple[int, int] | None], ...] = ()
    """Each GPU's name and compute capability (None when TensorFlow does not say)."""


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``precision`` asked for, the Keras policy the run uses, and why."""

    setting: str
    policy: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The ``run.json`` record."""
        return {"setting": self.setting, "policy": self.policy, "reason": self.reason}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str] | None:
    """The flags of ``cpuinfo``'s processors (None when it cannot be read: not Linux)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def detect_device() -> Device:
    """This machine's CPU flags and GPUs (imports TensorFlow)."""
    import tensorflow as tf

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        gpus.append((str(details.get("device_name", gpu.name)), capability))
    return Device(cpu_flags(), tuple(gpus))


def decide_precision(config: ExperimentConfig, device: Device | None = None) -> PrecisionChoice:
    """The dtype policy for ``config``'s model on ``device`` (None: this machine).

    An explicit ``precision`` is kept as written; ``auto`` is decided as the module says.
    """
    setting = config.precision
    if setting != "auto":
        return PrecisionChoice(setting, setting, f"precision: {setting}")
    kind = config.data.kind
    if kind not in IMAGE_KINDS:
        return _float32(
            f"bfloat16 is measured to pay only for convolutional image models, not {kind} data"
        )
    roles: dict[str, list[str]] = {"convolution": [], "recurrent": [], "other": []}
    for layer in sorted(set(layer_kinds(config))):
        role = _role(layer)
        if role != "neutral":
            roles[role].append(layer)
    if roles["recurrent"]:
        return _float32(
            "bfloat16 is not measured to pay for recurrent layers "
            f"({', '.join(roles['recurrent'])})"
        )
    if not roles["convolution"]:
        return _float32("no convolution: bfloat16 is measured to pay only for convolutional models")
    if roles["other"]:
        return _float32(f"bfloat16 is not measured for the {', '.join(roles['other'])} layers")
    device = device if device is not None else detect_device()
    family = ", ".join(roles["convolution"])
    if device.gpus:
        slow = [f"{name} ({_capability(cc)})" for name, cc in device.gpus if not _ampere(cc)]
        if slow:
            return _float32(
                f"GPU without fast bfloat16 (compute capability < 8.0): {', '.join(slow)}"
            )
        names = ", ".join(name for name, _ in device.gpus)
        return PrecisionChoice(
            "auto",
            "mixed_bfloat16",
            f"auto: {names} has bfloat16 matrix units and the model is convolutional ({family})",
        )
    if device.cpu_flags is None:
        return _float32("the CPU's flags cannot be read (no /proc/cpuinfo)")
    fast = sorted(device.cpu_flags & BF16_CPU_FLAGS)
    if not fast:
        return _float32(
            "this CPU has no fast bfloat16 (no amx_bf16 or avx512_bf16 flag): it would be "
            "emulated, and slower"
        )
    return PrecisionChoice(
        "auto",
        "mixed_bfloat16",
        f"auto: the CPU has {', '.join(fast)} and the model is convolutional ({family})",
    )


def resolved_policy(config: ExperimentConfig, record: Any = None) -> str:
    """The Keras policy name for ``config``'s runs: a saved run's recorded one (``record``,
    its ``run.json`` ``precision``), else what this machine would choose."""
    return recorded_policy(record) or decide_precision(config).policy


def recorded_policy(record: Any) -> str | None:
    """The policy a ``run.json`` ``precision`` entry names: a record's ``policy``, the setting
    itself in manifests from before ``auto`` (``"float32"``...), None when there is none."""
    if record is None:
        return None
    if isinstance(record, str):
        return None if record == "auto" else record
    policy = getattr(record, "policy", None)
    return policy if isinstance(policy, str) else None


def layer_kinds(config: ExperimentConfig) -> Iterator[str]:
    """The class name of every layer entry of the config's model, nested ``Sequential``
    blocks included (augmentation adds only ``Random*`` layers, which do not count)."""
    yield from _kinds(config.model.layers)


def _kinds(layers: Iterable[LayerSpec]) -> Iterator[str]:
    for spec in layers:
        if spec.class_name == "shared":
            continue
        yield spec.class_name
        nested = spec.config.get("layers") if spec.class_name == "Sequential" else None
        if isinstance(nested, list):
            from dltrain.config.schema import LayerSpec

            yield from _kinds(LayerSpec.model_validate(entry) for entry in nested)


def _role(kind: str) -> str:
    """``convolution``, ``recurrent``, ``neutral`` or ``other`` (unmeasured: a plugin's layer,
    attention...)."""
    if _NEUTRAL.match(kind):
        return "neutral"
    if _CONVOLUTION.match(kind):
        return "convolution"
    if _RECURRENT.search(kind):
        return "recurrent"
    # keras.applications' model functions are all convolutional networks (imports Keras).
    import keras

    application = getattr(keras.applications, kind, None)
    return "convolution" if kind[:1].isupper() and callable(application) else "other"


def _ampere(capability: tuple[int, int] | None) -> bool:
    return capability is not None and tuple(capability) >= (8, 0)


def _capability(capability: tuple[int, int] | None) -> str:
    return (
        "compute capability unknown" if capability is None else f"{capability[0]}.{capability[1]}"
    )


def _float32(why: str) -> PrecisionChoice:
    return PrecisionChoice("auto", "float32", f"auto: {why}")
