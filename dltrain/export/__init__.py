"""``dltrain export``: a run's model as a SavedModel, TFLite or ONNX artifact taking raw inputs.

One entry point, :func:`export_run`; each format has its own module (writer and runtime), and
:mod:`dltrain.export.verify` proves every export on the run's test split. Importing this
package does not import TensorFlow.
"""

from dltrain.export.exporter import export_run
from dltrain.export.record import ExportResult

__all__ = ["ExportResult", "export_run"]
