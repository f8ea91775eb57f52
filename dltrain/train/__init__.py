"""The train stage: prepare (data, model, one-batch check), fit with callbacks, test.

Entry point: :func:`train`. Importing this package imports Keras (and TensorFlow).
"""

from dltrain.train.loop import FitOutcome, evaluation_batch_size
from dltrain.train.prepare import Prepared, dry_run, prepare
from dltrain.train.recorder import ProgressSink
from dltrain.train.resume import ResumePlan, plan_resume, record_resume
from dltrain.train.stage import train

__all__ = [
    "FitOutcome",
    "Prepared",
    "ProgressSink",
    "ResumePlan",
    "dry_run",
    "evaluation_batch_size",
    "plan_resume",
    "prepare",
    "record_resume",
    "train",
]
