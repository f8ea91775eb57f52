"""The train stage: prepare (data, model, one-batch check), fit with callbacks, test.

Entry point: :func:`train`; :func:`dltrain.train.prepare.prepare` builds what it trains
(import it from its module: the package attribute ``prepare`` is that module, so it is not
listed here). Importing this package imports nothing else: the names below resolve on first
use, and all but :class:`ProgressSink` import Keras (and TensorFlow). So a refused
``--resume`` or a Keras-free helper (:mod:`dltrain.train.hints`, :mod:`dltrain.train.steps`,
:mod:`dltrain.train.sink`) never pays for the TensorFlow import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "FitOutcome",
    "Prepared",
    "ProgressSink",
    "ResumePlan",
    "dry_run",
    "plan_resume",
    "record_resume",
    "train",
]

if TYPE_CHECKING:
    from dltrain.train.loop import FitOutcome
    from dltrain.train.prepare import Prepared, dry_run
    from dltrain.train.resume import ResumePlan, plan_resume, record_resume
    from dltrain.train.sink import ProgressSink
    from dltrain.train.stage import train

_HOMES = {
    "FitOutcome": "dltrain.train.loop",
    "Prepared": "dltrain.train.prepare",
    "ProgressSink": "dltrain.train.sink",
    "ResumePlan": "dltrain.train.resume",
    "dry_run": "dltrain.train.prepare",
    "plan_resume": "dltrain.train.resume",
    "record_resume": "dltrain.train.resume",
    "train": "dltrain.train.stage",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
