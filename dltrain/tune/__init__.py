"""Hyperparameter search on Optuna: ``tune_study`` runs a config's ``tune:`` section.

Every trial is an ordinary run folder under the study folder ``<runs_dir>/<name>/<study>/``,
which also holds ``study.json``, ``best.yaml`` and the study's plots. See docs/tuning.md.

Importing this package imports nothing else: :mod:`dltrain` imports it up front (see there)
and ``dltrain --help`` must stay fast. Names resolve on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["StudySummary", "check_tune", "tune_study"]

if TYPE_CHECKING:
    from dltrain.tune.checks import check_tune
    from dltrain.tune.records import StudySummary
    from dltrain.tune.study import tune_study

_HOMES = {
    "check_tune": "dltrain.tune.checks",
    "StudySummary": "dltrain.tune.records",
    "tune_study": "dltrain.tune.study",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
