"""The ``tracking`` section of the config: experiment tracking besides the run folder."""

from __future__ import annotations

from pydantic import Field, field_validator

from dltrain.config.callbacks_schema import flag_section
from dltrain.config.data_schema import Strict

__all__ = ["MlflowConfig", "TrackingConfig"]


class MlflowConfig(Strict):
    """Log the run to an MLflow tracking server as well (docs/tracking.md)."""

    uri: str | None = None
    """Tracking server, e.g. ``http://mlflow.example:5000``. ``dltrain run --mlflow URI`` wins
    over it; without either, the ``MLFLOW_TRACKING_URI`` variable is used."""
    experiment: str | None = None
    """MLflow experiment the run goes into (created when missing); default: the run's name."""
    run_name: str | None = None
    """MLflow run name; default: ``<name>-<timestamp>``, the run folder's."""
    tags: dict[str, str] = Field(default_factory=dict)
    """More tags set on the MLflow run."""
    log_models: bool = False
    """Upload ``checkpoints/best.keras`` as an artifact too."""


class TrackingConfig(Strict):
    """Where runs are tracked besides their run folder. ``mlflow: true`` uses the defaults."""

    mlflow: MlflowConfig | None = None
    """An MLflow tracking server; off by default (needs ``pip install 'dltrain[mlflow]'``)."""

    _flags = field_validator("mlflow", mode="before")(flag_section)
