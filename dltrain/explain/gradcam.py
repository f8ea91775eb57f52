"""Grad-CAM (Selvaraju et al., 2017): where in the image the last convolution layer saw
evidence for the explained class.

The map is ``ReLU(sum_k w_k A_k)``, ``A_k`` the layer's k-th feature map and ``w_k`` the
spatial mean of the class score's gradient with respect to it, resized to the input and
scaled to [0, 1] per image. The sub-model that exposes the layer is built with the
functional API on the loaded model; nothing is retrained.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

__all__ = ["grad_cam", "last_conv_layer"]


def last_conv_layer(model: keras.Model) -> Any | None:
    """The model's last top-level convolution layer with 4-D output (``Conv2D``,
    ``SeparableConv2D``, ``DepthwiseConv2D``, ...), or None."""
    found = None
    for layer in model.layers:
        # Keras's convolutions share a base class (BaseConv) that has no public name.
        names = {cls.__name__ for cls in type(layer).__mro__}
        is_conv = "BaseConv" in names or "Conv" in type(layer).__name__
        if is_conv and len(layer.output.shape) == 4:
            found = layer
    return found


def grad_cam(
    model: keras.Model,
    layer: Any,
    x: np.ndarray,
    units: np.ndarray,
    *,
    batch: int = 64,
) -> np.ndarray:
    """Grad-CAM maps (examples x height x width, each in [0, 1]) for unit ``units[i]`` of
    example ``i``; an all-zero map where no positive evidence was found."""
    import tensorflow as tf

    conv_and_output = _conv_and_output(model, layer)
    height, width = x.shape[1], x.shape[2]
    maps = np.zeros((len(x), height, width), dtype=np.float32)
    for start in range(0, len(x), batch):
        rows = np.arange(start, min(start + batch, len(x)))
        tensor = tf.constant(x[rows].astype(np.float32))
        with tf.GradientTape() as tape:
            features, out = conv_and_output(tensor)
            out = tf.reshape(out, (tf.shape(out)[0], -1))
            score = tf.gather(out, tf.constant(units[rows]), axis=1, batch_dims=1)
        grads = tape.gradient(score, features)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))
        cam = tf.image.resize(cam[..., None], (height, width), method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        maps[rows] = np.asarray(tf.math.divide_no_nan(cam, peak))
    return maps


def _conv_and_output(model: keras.Model, layer: Any) -> Callable[[Any], tuple[Any, Any]]:
    """``x -> (the layer's feature maps, the model's first output)`` in one pass.

    A Sequential model's layers are replayed in order (a loaded Sequential's layers carry
    several call nodes, so ``layer.output`` may not be the node its output was computed
    from); a functional model gets a sub-model over its own graph.
    """
    import keras

    if isinstance(model, keras.Sequential):

        def replay(x: Any) -> tuple[Any, Any]:
            features = None
            for each in model.layers:
                x = each(x, training=False)
                if each is layer:
                    features = x
            return features, x

        return replay
    sub = keras.Model(model.inputs, [layer.output, _first(model.outputs)])
    return lambda x: tuple(sub(x, training=False))


def _first(outputs: Any) -> Any:
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs
