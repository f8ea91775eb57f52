"""``keras.applications`` models as layers of a config (pretrained backbones).

An application is a function that needs its ``input_shape`` when it builds the model, while a
config's layers are built before any shape is known. So an entry naming one becomes a
:class:`Backbone`: its arguments are checked with the other layers (every problem at once),
and the model is built when the backbone is called on a tensor, whose shape it then takes.

The applications are read from ``keras.applications`` (every public function taking
``include_top`` and ``weights``), so new ones need no change here. ``preprocess: auto`` puts
the application's own ``preprocess_input`` inside the model as plain Keras layers: the
function is measured on probe pixels (every mode Keras has is a per-channel affine map, at
most with a channel swap), and that map becomes a ``Rescaling``, a fixed ``Normalization`` or
a frozen 1x1 ``Conv2D``, which serialize without code.
"""

from __future__ import annotations

import inspect
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dltrain.model.problems import SpecError, keras_reason
from dltrain.utils.keys import KeyPath, did_you_mean

__all__ = [
    "Application",
    "Backbone",
    "application",
    "application_names",
    "preprocess_layers",
]

_TRAINABLE = "trainable"
_PREPROCESS = "preprocess"
_PREPROCESS_CHOICES = ("auto", "none")
# Set from the tensor the backbone is applied to, never from the config.
_SHAPE_ARGS = ("input_shape", "input_tensor")
# What Keras's ``get_file`` raises when a download fails (keras/src/utils/file_utils.py).
_FETCH_FAILURE = re.compile(r"URL fetch failure on (\S+?):")
_WHITE = 255.0
"""A white pixel in the 0..255 range every ``preprocess_input`` expects."""


@dataclass(frozen=True)
class Application:
    """One ``keras.applications`` model function and its module's ``preprocess_input``."""

    name: str
    function: Callable[..., Any]
    preprocess_input: Callable[..., Any]
    module: str

    @property
    def accepted(self) -> tuple[str, ...]:
        """The config arguments: the function's own (but the input's), then ours."""
        own = inspect.signature(self.function).parameters
        return tuple(p for p in own if p not in _SHAPE_ARGS) + (_TRAINABLE, _PREPROCESS)

    def check(self, config: dict[str, Any], path: KeyPath) -> list[SpecError]:
        """Problems in an entry's arguments that need no input shape (``path``: the entry)."""
        errors = []
        for key, value in config.items():
            message = self._arg_problem(key, value)
            if message is not None:
                errors.append(SpecError(path + (key,), message))
        return errors

    def _arg_problem(self, key: str, value: Any) -> str | None:
        accepted = self.accepted
        if key in _SHAPE_ARGS:
            return f"{self.name} takes its input shape from the tensor it meets; remove {key!r}"
        if key not in accepted:
            hint = did_you_mean(key, accepted)
            return f"{self.name} has no argument {key!r}{hint}; accepted: {', '.join(accepted)}"
        if key == _TRAINABLE and not isinstance(value, bool):
            return f"expected true or false; received {value!r}"
        if key == _PREPROCESS and value not in _PREPROCESS_CHOICES:
            return f"expected one of {', '.join(_PREPROCESS_CHOICES)}; received {value!r}"
        if key == "weights":
            return _weights_problem(value)
        return None


@cache
def _applications() -> dict[str, Application]:
    found: dict[str, Application] = {}
    for name in dir(keras.applications):
        fn = getattr(keras.applications, name)
        if name.startswith("_") or not inspect.isfunction(fn):
            continue
        params = inspect.signature(fn).parameters
        if not {"include_top", "weights", "input_shape"} <= set(params):
            continue
        # The public submodule of the function's family (``keras.applications.resnet``) holds
        # the ``preprocess_input`` its weights were trained with.
        family = fn.__module__.rsplit(".", 1)[-1]
        module = getattr(keras.applications, family, None)
        preprocess = getattr(module, "preprocess_input", None)
        if preprocess is None:
            continue
        found[name] = Application(name, fn, preprocess, f"keras.applications.{family}")
    return found


def application(name: str) -> Application | None:
    """The ``keras.applications`` model function called ``name`` (exact spelling), or None."""
    return _applications().get(name)


def application_names() -> tuple[str, ...]:
    """Every application a config may name (for "did you mean")."""
    return tuple(_applications())


def _weights_problem(value: Any) -> str | None:
    if value is None or value == "imagenet":
        return None
    if not isinstance(value, str):
        return f"expected null, imagenet or a weights file path; received {value!r}"
    if not Path(value).expanduser().is_file():
        return (
            f"no weights file {value!r} (looked at {Path(value).expanduser().resolve()}); "
            "weights is null (random), imagenet, or the path of a weights file"
        )
    return None


class Backbone:
    """A ``keras.applications`` entry, built on first call from the incoming tensor's shape.

    Args:
        app: The application.
        config: The entry's checked arguments (:meth:`Application.check`).
        name: The entry's ``name``, if any (the nested model's name).
        path: Key path of the entry's class key, e.g. ``("model", "layers", 0, "MobileNetV2")``.
        pixel_max: The value of a white pixel in the incoming tensors: 1.0 when the data
            scales pixels to [0, 1], 255.0 for raw pixels.
    """

    def __init__(
        self,
        app: Application,
        config: dict[str, Any],
        name: str | None,
        path: KeyPath,
        pixel_max: float,
    ) -> None:
        self.app = app
        self.path = path
        self.pixel_max = pixel_max
        self.trainable = bool(config.get(_TRAINABLE, True))
        self.preprocess = config.get(_PREPROCESS, "auto") == "auto"
        self.args = {k: v for k, v in config.items() if k not in (_TRAINABLE, _PREPROCESS)}
        weights = self.args.get("weights")
        if isinstance(weights, str) and weights != "imagenet":
            self.args["weights"] = str(Path(weights).expanduser().resolve())
        if name is not None:
            self.args["name"] = name
        self._built: tuple[list[keras.layers.Layer], keras.Model] | None = None

    def layers(self, input_shape: tuple[int | None, ...]) -> list[keras.layers.Layer]:
        """The preprocessing layers and the application model, built for ``input_shape``.

        Built once: a shared entry applies the same model again.

        Raises:
            SpecError: the application refused its arguments or the shape, or its weights
                could not be downloaded.
        """
        if self._built is None:
            model = self._application(input_shape)
            model.trainable = self.trainable
            steps: list[keras.layers.Layer] = []
            if self.preprocess:
                steps = self._preprocess(input_shape[-1] if input_shape else None, model.name)
            self._built = (steps, model)
        steps, model = self._built
        return [*steps, model]

    def _preprocess(self, channels: int | None, model_name: str) -> list[keras.layers.Layer]:
        here = self.path + (_PREPROCESS,)
        if not channels:
            raise SpecError(here, "`preprocess: auto` needs images with a known channel count")
        try:
            return preprocess_layers(self.app, channels, self.pixel_max, f"{model_name}_preprocess")
        except SpecError as error:
            raise SpecError(here, error.message) from None

    def __call__(self, tensor: Any) -> Any:
        """Apply the backbone to a symbolic tensor (a frozen one in inference mode)."""
        *steps, model = self.layers(tuple(tensor.shape[1:]))
        for step in steps:
            tensor = step(tensor)
        # Keras's transfer-learning guide: a frozen backbone runs with training=False, so its
        # BatchNormalization keeps its statistics even when it is unfrozen to fine-tune.
        return model(tensor, training=False) if not self.trainable else model(tensor)

    def _application(self, input_shape: tuple[int | None, ...]) -> keras.Model:
        try:
            model = self.app.function(input_shape=input_shape, **self.args)
        except Exception as exc:  # Keras raises ValueError, or Exception for a failed fetch.
            raise self._problem(exc) from exc
        assert isinstance(model, keras.Model)
        return model

    def _problem(self, exc: BaseException) -> SpecError:
        text = str(exc)
        fetch = _FETCH_FAILURE.search(text)
        if fetch is not None and self.args.get("weights") == "imagenet":
            url = fetch.group(1)
            file_name = os.path.basename(urllib.parse.urlsplit(url).path)
            folder = _weights_folder()
            message = (
                f"cannot download the ImageNet weights of {self.app.name} "
                f"({keras_reason(exc)}); on a machine with internet fetch {url} and put the "
                f"file into {folder} as {file_name} (Keras looks there before downloading), "
                "or set `weights` to the file's path"
            )
            return SpecError(self.path + ("weights",), message)
        reason = keras_reason(exc)
        for key in self.args:
            if f"Received: {key}=" in reason or f"`{key}`" in reason:
                return SpecError(self.path + (key,), reason)
        return SpecError(self.path, reason)


def _weights_folder() -> str:
    """Where Keras's ``get_file`` looks for application weights before downloading them."""
    # KERAS_HOME as Keras read it at import (keras/src/backend/config.py); get_file falls
    # back to /tmp/.keras when that folder is not writable.
    from keras.src.backend.config import keras_home

    base = os.path.expanduser(keras_home())
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, "models")


def preprocess_layers(
    app: Application, channels: int, pixel_max: float, name: str
) -> list[keras.layers.Layer]:
    """Keras layers equal to ``app.preprocess_input`` on pixels where white is ``pixel_max``.

    Raises:
        SpecError: (at no path; the caller's) the function is not a per-channel affine map on
            this many channels, e.g. an ImageNet mean on grayscale images.
    """
    matrix, bias = _affine(app, channels)
    matrix = matrix * (_WHITE / pixel_max)
    diagonal = np.diag(matrix)
    if np.allclose(matrix, np.diag(diagonal), rtol=0.0, atol=1e-9):
        if np.allclose(diagonal, 1.0, rtol=1e-9) and np.allclose(bias, 0.0, atol=1e-9):
            return []
        if np.allclose(diagonal, diagonal[0], rtol=1e-9) and np.allclose(bias, bias[0], rtol=1e-9):
            return [keras.layers.Rescaling(float(diagonal[0]), float(bias[0]), name=name)]
        # (x - mean) / sqrt(variance) = x * d + b
        mean = [float(v) for v in -bias / diagonal]
        variance = [float(v) for v in (1.0 / diagonal) ** 2]
        return [keras.layers.Normalization(mean=mean, variance=variance, name=name)]
    # A channel swap (caffe's RGB -> BGR) with the mean: one 1x1 convolution, frozen.
    conv = keras.layers.Conv2D(channels, 1, trainable=False, name=name)
    conv.build((None, None, None, channels))
    conv.set_weights([matrix.reshape(1, 1, channels, channels), bias])
    return [conv]


def _affine(app: Application, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """``preprocess_input`` as ``pixel @ matrix + bias`` (0..255 pixels), measured.

    Raises:
        SpecError: the function fails on ``channels`` channels or is not affine.
    """
    rng = np.random.default_rng(0)
    check = rng.uniform(0.0, _WHITE, (8, channels))
    probe = np.concatenate([np.zeros((1, channels)), _WHITE * np.eye(channels), check])
    where = f"{app.module}.preprocess_input"
    try:
        # A batch of one image, one row of pixels; float64, copied (the function may work in
        # place).
        out = app.preprocess_input(probe.reshape(1, 1, -1, channels).copy())
        out = np.asarray(out, dtype=np.float64).reshape(-1, channels)
    except Exception as exc:  # Keras's numpy code raises IndexError, ValueError...
        message = (
            f"`preprocess: auto` applies {where}, which fails on {channels}-channel images "
            f"({keras_reason(exc)}); use `preprocess: none` and scale the pixels yourself"
        )
        raise SpecError((), message) from exc
    bias = out[0]
    matrix = (out[1 : channels + 1] - bias) / _WHITE
    if not np.allclose(check @ matrix + bias, out[channels + 1 :], rtol=1e-6, atol=1e-6):
        message = (
            f"`preprocess: auto` cannot express {where} with Keras layers; use "
            "`preprocess: none` and add the preprocessing layers yourself"
        )
        raise SpecError((), message)
    return matrix, bias
