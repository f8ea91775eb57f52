"""``RadialFeatures``: a custom Keras layer, registered so configs (and checkpoints) find it."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="rings_plugin")
class RadialFeatures(keras.layers.Layer):
    """Appends the squared distance from the origin (times ``scale``) to each point.

    Concentric rings are not linearly separable in (x1, x2) but are in the radius, so this
    one feature lets a small network learn them quickly.
    """

    def __init__(self, scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if scale <= 0:
            raise ValueError(f"`scale` must be positive. Received: scale={scale}")
        self.scale = scale

    def call(self, inputs: Any) -> Any:
        radius = keras.ops.sum(keras.ops.square(inputs), axis=-1, keepdims=True)
        return keras.ops.concatenate([inputs, self.scale * radius], axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[Any, ...]:
        return (*input_shape[:-1], None if input_shape[-1] is None else input_shape[-1] + 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}
