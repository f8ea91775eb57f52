"""Hyperparameter search on Optuna: ``tune_study`` runs a config's ``tune:`` section.

Every trial is an ordinary run folder under the study folder ``<runs_dir>/<name>/<study>/``,
which also holds ``study.json``, ``best.yaml`` and the study's plots. See docs/tuning.md.
Optuna and TensorFlow are imported only when a study is checked or run.
"""

from dltrain.tune.checks import check_tune
from dltrain.tune.report import StudySummary
from dltrain.tune.study import tune_study

__all__ = ["StudySummary", "check_tune", "tune_study"]
