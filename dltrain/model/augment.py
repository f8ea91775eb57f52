"""``augment:`` -> Keras preprocessing layers on the model's raw input, active only in training.

The layers run on the *raw* input, before the data stage's own preprocessing: image
augmentation sees the pixels as the data gives them (``uint8`` 0..255 for image folders, floats
in [0, 1] for scaled MNIST), so ``RandomContrast`` and ``RandomBrightness`` get the matching
``value_range``. Every layer is a stock Keras layer (no ``Lambda``, no custom class), so a
``.keras`` file with augmentation loads in safe mode. Keras's random layers are the identity
when ``training`` is false, which is how ``evaluate``, ``predict`` and every export call the
model.

Each layer draws from its own ``SeedGenerator``, seeded from the config's ``seed`` plus a fixed
offset per key: a rerun draws the same transformations, switching one key on or off leaves the
others' draws alone, and the generators' states are among those a resume point saves
(:mod:`dltrain.train.rng`), so ``--resume`` continues the same random sequence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from dltrain.config.schema import AugmentConfig, ExperimentConfig
from dltrain.data.spec import DataSpec, InputInfo
from dltrain.model.problems import ProblemList, keras_reason
from dltrain.model.tensors import format_shape
from dltrain.utils.keys import KeyPath

__all__ = ["IMAGE_KEYS", "augment_spec", "value_range"]

IMAGE_KEYS = ("flip", "rotate", "zoom", "translate", "contrast", "brightness")
"""Keys that need images of shape (height, width, channels)."""

_ROOT: KeyPath = ("augment",)
# A key's seed is `seed + offset`, the offset fixed by the key's place in the schema, so adding a
# key to a config does not change what the others draw.
_OFFSET = {key: index for index, key in enumerate(AugmentConfig.model_fields)}
# Randomness in float32 whatever the precision policy: the next layer casts to its own dtype.
_DTYPE = "float32"

_Make = Callable[[Any, int, tuple[float, float]], keras.layers.Layer]

_IMAGE_LAYERS: dict[str, _Make] = {
    "flip": lambda v, seed, _: keras.layers.RandomFlip(
        mode=v, seed=seed, name="augment_flip", dtype=_DTYPE
    ),
    "rotate": lambda v, seed, _: keras.layers.RandomRotation(
        factor=v, seed=seed, name="augment_rotate", dtype=_DTYPE
    ),
    # width_factor=None: one zoom for both axes, so images keep their aspect ratio; a single
    # float is Keras's symmetric range (-v, v): zoom in or out by up to v.
    "zoom": lambda v, seed, _: keras.layers.RandomZoom(
        height_factor=v, width_factor=None, seed=seed, name="augment_zoom", dtype=_DTYPE
    ),
    "translate": lambda v, seed, _: keras.layers.RandomTranslation(
        height_factor=v, width_factor=v, seed=seed, name="augment_translate", dtype=_DTYPE
    ),
    "contrast": lambda v, seed, value_range: keras.layers.RandomContrast(
        factor=v, value_range=value_range, seed=seed, name="augment_contrast", dtype=_DTYPE
    ),
    "brightness": lambda v, seed, value_range: keras.layers.RandomBrightness(
        factor=v, value_range=value_range, seed=seed, name="augment_brightness", dtype=_DTYPE
    ),
}


def augment_spec(config: ExperimentConfig, spec: DataSpec, problems: ProblemList) -> DataSpec:
    """``spec`` with the config's augmentation layers in front of its preprocessing.

    Every problem (a key the data cannot take) is added to ``problems`` at ``augment.<key>``;
    the spec then comes back unchanged, so the model's own problems are still collected and
    all are reported together.

    Args:
        config: The validated config (``augment``, ``seed`` and ``data``).
        spec: The data's inputs and preprocessing.
        problems: Where problems are collected.

    Returns:
        ``spec`` itself without ``augment`` (or with problems); otherwise a copy whose
        ``preprocess`` runs the augmentation layers on the raw input, then the data's own
        preprocessing.
    """
    augment = config.augment
    keys = _set_keys(augment)
    if augment is None or not keys:
        return spec
    if len(spec.raw_inputs) != 1:
        names = ", ".join(repr(info.name) for info in spec.raw_inputs)
        problems.add(
            _ROOT,
            f"augmentation works on a model with one input, but the data provides "
            f"{len(spec.raw_inputs)} ({names})",
        )
        return spec
    info = spec.raw_inputs[0]
    before = len(problems.items)
    for key in keys:
        reason = _refusal(key, info, config)
        if reason is not None:
            problems.add((*_ROOT, key), reason)
    if len(problems.items) > before:
        return spec
    layers = _layers(augment, keys, config.seed, value_range(info, config), problems)
    if len(problems.items) > before:
        return spec
    inner = spec.preprocess

    def preprocess(raw: dict[str, Any]) -> dict[str, Any]:
        ((name, tensor),) = raw.items()
        for layer in layers:
            tensor = layer(tensor)
        augmented = {name: tensor}
        return dict(inner(augmented)) if inner is not None else augmented

    return dataclasses.replace(spec, preprocess=preprocess)


def _set_keys(augment: AugmentConfig | None) -> list[str]:
    """The keys the config sets, in the order their layers run (the schema's order)."""
    if augment is None:
        return []
    return [key for key in AugmentConfig.model_fields if getattr(augment, key) is not None]


def _refusal(key: str, info: InputInfo, config: ExperimentConfig) -> str | None:
    """Why ``key`` cannot augment the input ``info`` (``None``: it can)."""
    shape = format_shape(info.shape)
    what = f"the input {info.name!r} is {info.dtype} of shape {shape}"
    if key in IMAGE_KEYS:
        if not _numeric(info.dtype):
            return f"image augmentation needs numeric pixels, but {what}"
        if len(info.shape) == 3:
            return None
        hint = ""
        if len(info.shape) == 2 and hasattr(config.data, "channel_axis"):
            hint = "; set `data.channel_axis: true` to add the channel axis"
        return (
            f"image augmentation needs images of shape (height, width, channels), but {what}" + hint
        )
    if key == "shift":
        if info.columns:
            return (
                f"`shift` moves a waveform in time, but the input {info.name!r} holds table columns"
            )
        if len(info.shape) != 1 or info.shape[0] is None:
            return f"`shift` moves a waveform of shape (samples,) in time, but {what}"
        if not keras.backend.is_float_dtype(info.dtype):
            return f"`shift` needs a float waveform, but {what}"
        return None
    # noise
    if not keras.backend.is_float_dtype(info.dtype):
        hint = " (image pixels are uint8: use the image keys)" if len(info.shape) == 3 else ""
        return f"`noise` adds Gaussian noise to float inputs, but {what}{hint}"
    return None


def _numeric(dtype: str) -> bool:
    return bool(keras.backend.is_float_dtype(dtype) or keras.backend.is_int_dtype(dtype))


def value_range(info: InputInfo, config: ExperimentConfig) -> tuple[float, float]:
    """The pixel range the raw input holds: what contrast and brightness clip to.

    Integer pixels span their type (``uint8``: 0..255). Float pixels are taken as scaled to
    [0, 1] (MNIST's pipeline scales them), unless the data says ``scale: false``.
    """
    if keras.backend.is_int_dtype(info.dtype):
        return (0.0, float(np.iinfo(np.dtype(info.dtype)).max))
    if getattr(config.data, "scale", True) is False:
        return (0.0, 255.0)
    return (0.0, 1.0)


def _layers(
    augment: AugmentConfig,
    keys: list[str],
    seed: int,
    value_range: tuple[float, float],
    problems: ProblemList,
) -> list[keras.layers.Layer]:
    """The layers for ``keys``, in order (Keras's own complaints added at their keys)."""
    built: list[keras.layers.Layer] = []
    for key in keys:
        value = getattr(augment, key)
        key_seed = seed + _OFFSET[key]
        try:
            if key in _IMAGE_LAYERS:
                built.append(_IMAGE_LAYERS[key](value, key_seed, value_range))
            elif key == "shift":
                built.extend(_shift(value, key_seed))
            else:
                built.append(
                    keras.layers.GaussianNoise(
                        stddev=value, seed=key_seed, name="augment_noise", dtype=_DTYPE
                    )
                )
        except (ValueError, TypeError) as exc:  # Keras's argument checks.
            problems.add((*_ROOT, key), keras_reason(exc))
    return built


def _shift(value: float, seed: int) -> list[keras.layers.Layer]:
    """A time shift from stock layers: the waveform as a 1-pixel-high image, translated along
    its width with silence (zeros) filled in, then back to (samples,)."""
    return [
        keras.layers.Reshape((1, -1, 1), name="augment_shift_frame"),
        keras.layers.RandomTranslation(
            height_factor=0.0,
            width_factor=value,
            fill_mode="constant",
            fill_value=0.0,
            # Nearest: whole-sample moves; bilinear would also low-pass the waveform.
            interpolation="nearest",
            seed=seed,
            name="augment_shift",
            dtype=_DTYPE,
        ),
        keras.layers.Reshape((-1,), name="augment_shift_unframe"),
    ]
