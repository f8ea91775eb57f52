"""Where a run is tracked: the config's ``tracking.mlflow`` section, ``--mlflow`` and the env.

The URI is taken from, first to last: ``dltrain run --mlflow URI`` (written into the config as
``tracking.mlflow.uri``, so it is the config's value), the config's ``tracking.mlflow.uri``,
the ``MLFLOW_TRACKING_URI`` variable, then the URI ``run.json`` recorded (a resumed run keeps
going to the server it started on). A config that names a server wins over the variable, as
``mlflow.set_tracking_uri()`` in code wins over it in MLflow itself: a file checked into a
project says where its runs belong. The variable alone does not turn tracking on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dltrain.errors import ConfigError, Problem

__all__ = ["EXTRA_HINT", "TrackingSettings", "require_mlflow", "settings_from"]

EXTRA_HINT = "pip install 'dltrain[mlflow]'"


@dataclass(frozen=True)
class TrackingSettings:
    """One run's MLflow settings, resolved."""

    uri: str
    experiment: str
    run_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    log_models: bool = False
    parent_run_id: str | None = None


def settings_from(
    config: Mapping[str, Any], *, recorded_uri: str | None = None
) -> TrackingSettings | None:
    """The settings a resolved config (``config.yaml``'s mapping) asks for, or None (off).

    Raises:
        ConfigError: tracking is asked for but no server is named anywhere.
    """
    section = (config.get("tracking") or {}).get("mlflow")
    if section is None:
        return None
    uri = section.get("uri") or os.environ.get("MLFLOW_TRACKING_URI") or recorded_uri
    if not uri:
        raise ConfigError(
            "",
            [
                Problem(
                    "no MLflow tracking server given: set tracking.mlflow.uri, pass "
                    "--mlflow URI or set MLFLOW_TRACKING_URI",
                    "tracking.mlflow.uri",
                    key=("tracking", "mlflow", "uri"),
                )
            ],
        )
    return TrackingSettings(
        uri=uri,
        experiment=section.get("experiment") or str(config.get("name", "experiment")),
        run_name=section.get("run_name"),
        tags=dict(section.get("tags") or {}),
        log_models=bool(section.get("log_models", False)),
    )


def require_mlflow() -> None:
    """Check that the ``mlflow`` extra is installed.

    Raises:
        ConfigError: it is not (located at ``tracking.mlflow`` by the caller's config).
    """
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise ConfigError(
            "",
            [
                Problem(
                    f"tracking with MLflow needs the mlflow extra: {EXTRA_HINT}",
                    "tracking.mlflow",
                    key=("tracking", "mlflow"),
                )
            ],
        ) from None
