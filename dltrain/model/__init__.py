"""The model stage: config + data spec -> a compiled ``keras.Model``, through Keras's registries.

Importing this package imports Keras (and TensorFlow); the CLI imports it lazily.
"""

from dltrain.model.build import build_model
from dltrain.model.compile import build_optimizer, compile_model
from dltrain.model.saving import load_model_file
from dltrain.model.summary import LayerRow, ModelSummary, summarize_model

__all__ = [
    "LayerRow",
    "ModelSummary",
    "build_model",
    "build_optimizer",
    "compile_model",
    "load_model_file",
    "summarize_model",
]
