"""``data.target_scaling`` inside the model: raw units in and out, scaled units in the loss.

A scaled regression target (:attr:`dltrain.data.spec.TargetInfo.scale`) makes the model's
output layer learn ``z``, the standardized target (or the standardized logarithm under
``log``). :class:`Unscale`, appended to that output, turns ``z`` back into the target's own
units, so checkpoints, ``predict``, ``eval``, exports and metrics all speak them;
:class:`ScaledLoss` maps both the labels and the predictions back to ``z`` before the
configured loss, so training sees unit-scale errors. Both are registered Keras objects
(``safe_mode`` loads them) and round-trip through ``get_config``/``from_config``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from dltrain.data.spec import TargetInfo

__all__ = ["ScaledLoss", "Unscale", "scaled_loss", "unscale_layer", "unscaled_name"]

# Predictions of a log target pass through ``log`` in the loss: keep them inside float32's
# finite positive range (an underflowed 0 or an overflowed inf would give inf or NaN).
_TINY = float(np.finfo(np.float32).tiny)
_HUGE = float(np.finfo(np.float32).max)


@keras.saving.register_keras_serializable(package="dltrain")
class Unscale(keras.layers.Layer):
    """``z * std + mean``, then ``exp`` when ``log``: the target's own units from ``z``.

    Args:
        mean: Training mean of the target (of its logarithm with ``log``).
        std: Training standard deviation, likewise.
        log: Whether the target was scaled as ``log``.
        of: The name of the output layer this undoes the scaling of: per-output config keys
            (``loss``, ``metrics``, ``loss_weights``) keep using it.
    """

    def __init__(self, mean: float, std: float, log: bool, of: str, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mean = float(mean)
        self.std = float(std)
        self.log = bool(log)
        self.of = str(of)

    def call(self, inputs: Any) -> Any:
        """The target's own units."""
        values = keras.ops.add(keras.ops.multiply(inputs, self.std), self.mean)
        return keras.ops.exp(values) if self.log else values

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The input's shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The layer's arguments."""
        config: dict[str, Any] = super().get_config()
        config.update(mean=self.mean, std=self.std, log=self.log, of=self.of)
        return config


@keras.saving.register_keras_serializable(package="dltrain")
class ScaledLoss(keras.losses.Loss):
    """A loss computed on the scaled target: labels and predictions in the target's units
    are mapped to ``(value - mean) / std`` (of ``log(value)`` with ``log``) first.

    Args:
        loss: The configured loss (a name, a function, a ``Loss`` or its serialized form).
        mean, std, log: As :class:`Unscale`'s.
    """

    def __init__(
        self,
        loss: Any,
        mean: float,
        std: float,
        log: bool,
        name: str | None = None,
        reduction: str | None = None,
        dtype: Any = None,
    ) -> None:
        inner = keras.losses.get(loss)
        if reduction is None:
            reduction = getattr(inner, "reduction", "sum_over_batch_size")
        super().__init__(
            name=name or f"scaled_{getattr(inner, 'name', getattr(inner, '__name__', 'loss'))}",
            reduction=reduction,
            dtype=dtype,
        )
        self.inner = inner
        self.mean = float(mean)
        self.std = float(std)
        self.log = bool(log)

    def _scaled(self, values: Any) -> Any:
        if self.log:
            values = keras.ops.log(keras.ops.clip(values, _TINY, _HUGE))
        return keras.ops.divide(keras.ops.subtract(values, self.mean), self.std)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-example values of the configured loss on the scaled target."""
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        # A Loss object's ``call`` gives per-example values; the reduction is this one's.
        fn = self.inner.call if isinstance(self.inner, keras.losses.Loss) else self.inner
        return fn(self._scaled(y_true), self._scaled(y_pred))

    def get_config(self) -> dict[str, Any]:
        """The wrapped loss, serialized, and the scaling."""
        config: dict[str, Any] = super().get_config()
        config.update(
            loss=keras.losses.serialize(self.inner), mean=self.mean, std=self.std, log=self.log
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScaledLoss:
        """Rebuild from :meth:`get_config`."""
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)


def unscaled_name(of: str) -> str:
    """The name of the :class:`Unscale` layer after output layer ``of``."""
    return f"{of}_unscaled"


def unscale_layer(of: str, target: TargetInfo) -> Unscale | None:
    """The :class:`Unscale` layer to put after output layer ``of`` (``None``: not scaled)."""
    if target.scale is None:
        return None
    mode, mean, std = target.scale
    return Unscale(mean, std, mode == "log", of, name=unscaled_name(of))


def scaled_loss(loss: Any, target: TargetInfo) -> Any:
    """``loss`` as :class:`ScaledLoss` for a scaled target, unchanged otherwise."""
    if target.scale is None or loss is None:
        return loss
    mode, mean, std = target.scale
    return ScaledLoss(loss, mean, std, mode == "log")
