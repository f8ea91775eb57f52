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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dltrain.errors import ConfigError, Problem

__all__ = ["EXTRA_HINT", "TrackingSettings", "require_mlflow", "settings_from", "uri_problem"]

EXTRA_HINT = "pip install 'dltrain[mlflow]'"

DATABASE_ENGINES = ("postgresql", "mysql", "sqlite", "mssql")
"""The SQLAlchemy dialects MLflow's database store takes (``mlflow.store.db.db_types``; a
``dialect+driver`` scheme counts). Kept here so that checking a URI imports no MLflow;
``tests/test_tracking.py`` checks the two agree."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_EXAMPLES = "an http(s) server (http://127.0.0.1:5000) or a database (sqlite:///mlflow.db)"


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
    problem = uri_problem(uri)
    if problem is not None:
        where = (
            "MLFLOW_TRACKING_URI"
            if uri == os.environ.get("MLFLOW_TRACKING_URI") and not section.get("uri")
            else "tracking.mlflow.uri"
        )
        raise ConfigError(
            "",
            [Problem(f"{problem}; received {uri!r}", where, key=("tracking", "mlflow", "uri"))],
        )
    return TrackingSettings(
        uri=uri,
        experiment=section.get("experiment") or str(config.get("name", "experiment")),
        run_name=section.get("run_name"),
        tags=dict(section.get("tags") or {}),
        log_models=bool(section.get("log_models", False)),
    )


def uri_problem(uri: str) -> str | None:
    """Why MLflow could not track to ``uri`` (None: it is a server or database URI).

    Checked before a run folder exists or a resumed run's ``config.yaml`` changes, since
    MLflow itself says so only once the run is under way (``file:`` stores refused by
    MLflow 3, ``ftp:``, ``http://[::1`` raising ``ValueError``).
    """
    if not _SCHEME.match(uri) or uri.lower().startswith("file:") or re.match(r"[A-Za-z]:\\", uri):
        if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").strip().lower() in ("true", "1"):
            return None
        return (
            "MLflow reads this as a local folder (a file store), which MLflow 3 refuses unless "
            f"MLFLOW_ALLOW_FILE_STORE=true is set; expected {_EXAMPLES}"
        )
    scheme = uri.split(":", 1)[0].lower()
    if scheme.split("+", 1)[0] in DATABASE_ENGINES:
        return None
    if scheme not in ("http", "https"):
        return f"MLflow cannot track to a {scheme}: URI; expected {_EXAMPLES}"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError for a port that is no number)
    except ValueError as exc:
        return f"not a valid URL ({exc}); expected {_EXAMPLES}"
    if not parts.hostname or any(c.isspace() for c in uri):
        return f"not a valid URL (no host, or a space in it); expected {_EXAMPLES}"
    return None


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
