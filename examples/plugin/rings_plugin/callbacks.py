"""``WeightNorm``: a custom Keras callback that adds a value to each epoch's logs."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="rings_plugin")
class WeightNorm(keras.callbacks.Callback):
    """Logs the global L2 norm of the trainable weights as ``<name>`` after every epoch.

    dltrain runs ``callbacks.extra`` before it records the epoch, so the value lands in
    ``metrics.csv`` and ``run.json`` next to the loss.
    """

    def __init__(self, name: str = "weight_norm") -> None:
        super().__init__()
        if not name.isidentifier():
            raise ValueError(f"`name` must be an identifier. Received: name={name!r}")
        self.name = name

    def get_config(self) -> dict[str, Any]:
        # Keras registers only classes that can describe their arguments.
        return {"name": self.name}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        weights = [np.asarray(w) for w in self.model.trainable_weights]
        logs[self.name] = float(np.sqrt(sum(float(np.sum(w * w)) for w in weights)))
