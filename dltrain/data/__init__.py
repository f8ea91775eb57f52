"""The data stage: a validated config -> train/validation/test tf.data pipelines and a spec.

Importing this package does not import TensorFlow; building pipelines does.
"""

from dltrain.data.custom import datasets_from_arrays
from dltrain.data.inputs import PredictionInputs, load_prediction_inputs
from dltrain.data.load import describe_data, load_datasets
from dltrain.data.pipeline import Datasets
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo

__all__ = [
    "DataSpec",
    "Datasets",
    "InputInfo",
    "PredictionInputs",
    "TargetInfo",
    "datasets_from_arrays",
    "describe_data",
    "load_datasets",
    "load_prediction_inputs",
]
