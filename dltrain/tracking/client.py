"""``Tracker``: the MLflow calls for one run, with short timeouts, never failing the run.

MLflow's REST client retries a failing request for minutes by default; a tracking server that
is down must not stall training, so every call runs with ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0``
and a 10 s ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (unless the user set those variables: theirs win).
MLflow reads them from the environment on each request, so they are set only for the call and
put back after it.

During a run (``strict=False``) the first failure is reported once through ``warn`` and the
tracker stops calling the server for the rest of that phase: the run folder keeps everything
and ``dltrain sync`` uploads it later. ``dltrain sync`` uses ``strict=True``: a failure is a
:class:`TrackingError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from dltrain.errors import TrackingError, first_line
from dltrain.tracking.settings import TrackingSettings
from dltrain.utils.urls import public_url

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["SHORT_TIMEOUTS", "Tracker", "short_timeouts"]

T = TypeVar("T")

SHORT_TIMEOUTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    # MLflow prints "View run ... at: URL" to stdout when a run ends; dltrain's output is its own.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
"""What a call to the server may take at most (no retries, 10 s per request), and no prints."""


@contextmanager
def short_timeouts() -> Iterator[None]:
    """:data:`SHORT_TIMEOUTS` for the duration of the block, where the user set nothing."""
    added = [name for name in SHORT_TIMEOUTS if name not in os.environ]
    for name in added:
        os.environ[name] = SHORT_TIMEOUTS[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _reason(exc: BaseException) -> str:
    return first_line(exc, limit=200)


class Tracker:
    """An MLflow client for one server, which fails softly (or strictly, for ``sync``)."""

    def __init__(
        self,
        settings: TrackingSettings,
        warn: Callable[[str], None] | None = None,
        *,
        strict: bool = False,
    ) -> None:
        from mlflow import MlflowClient

        self.settings = settings
        self.uri = public_url(settings.uri)
        self.client: MlflowClient = MlflowClient(tracking_uri=settings.uri)
        self.warn = warn or (lambda text: None)
        self.strict = strict
        self.run_id: str | None = None
        self.failed: str | None = None
        """Why the server was given up on in this phase (None: it answers)."""

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``fn(*args, **kwargs)`` against the server; None once it failed (non-strict).

        Raises:
            TrackingError: the call failed and the tracker is strict.
        """
        if self.failed is not None:
            return None
        try:
            with short_timeouts():
                return fn(*args, **kwargs)
        # MLflow raises MlflowException, requests' connection errors, OSError...: for a
        # best-effort side channel every failure means the same thing.
        except Exception as exc:  # noqa: BLE001
            self.failed = _reason(exc)
            if self.strict:
                raise TrackingError(
                    f"MLflow at {self.uri}: could not {what}: {self.failed}"
                ) from None
            self.warn(
                f"warning: MLflow at {self.uri}: could not {what} ({self.failed}); "
                "training goes on and the run folder keeps everything"
            )
            return None

    def retry(self) -> None:
        """Try the server again (a new phase: the end of a run, a sync)."""
        self.failed = None
