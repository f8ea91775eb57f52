"""The report stage: plots and the final manifest of a run; listing and comparing runs.

Entry point: :func:`write_report` (and :func:`record_start` for the files written before
training). Importing this package does not import TensorFlow.
"""

from dltrain.report.run_files import record_start, write_report

__all__ = ["record_start", "write_report"]
