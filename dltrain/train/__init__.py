"""The train stage: prepare (data, model, one-batch check), fit with callbacks, test.

Entry point: :func:`train`. Importing this package imports nothing else: the names below
resolve on first use, and all but :class:`ProgressSink` import Keras (and TensorFlow). So a
refused ``--resume`` or a Keras-free helper (:mod:`dltrain.train.hints`,
:mod:`dltrain.train.steps`, :mod:`dltrain.train.sink`) never pays for the TensorFlow import.
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
    "prepare",
    "record_resume",
    "train",
]

if TYPE_CHECKING:
    from dltrain.train.loop import FitOutcome
    from dltrain.train.prepare import Prepared, dry_run, prepare
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
    "prepare": "dltrain.train.prepare",
    "record_resume": "dltrain.train.resume",
    "train": "dltrain.train.stage",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib
        import sys

        importlib.import_module(_HOMES[name])
        # Importing dltrain.train.prepare binds the package attribute "prepare" to that
        # submodule, and Python then finds it without asking here: bind every name whose
        # home is loaded, so the function wins, as an eager import in this file would make it.
        for other, home in _HOMES.items():
            if home in sys.modules:
                globals()[other] = getattr(sys.modules[home], other)
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
