"""Where a study lives: Optuna's relational storage, heartbeats, and claiming the next trial.

Several processes (on several machines, with PostgreSQL) may work on one study. Two things
keep that sound:

* heartbeats: each running trial's process writes a heartbeat every few seconds; a trial whose
  heartbeat stops (the process was killed) is marked failed by whoever looks next. A trial of
  a process on this host that no longer exists is failed at once, without waiting.
* a study lock around "count the trials, start one if the study needs more", so that
  processes together start no more trials than the study needs (PostgreSQL advisory lock, a
  file lock for SQLite).

Optuna's private API is touched here and nowhere else (:func:`trial_id`, :func:`_fail_trial`);
tests/unit/test_optuna_internals.py fails when an Optuna upgrade moves it, and
``pyproject.toml`` bounds Optuna to the versions it was checked on.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import random
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from dltrain.errors import UsageError, first_line
from dltrain.storage.lock import pid_alive
from dltrain.utils.urls import public_url

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

__all__ = [
    "HEARTBEAT_S",
    "Heartbeat",
    "ProcessInfo",
    "claim_lock",
    "current_trials",
    "damaged_storage",
    "fail_lost_trials",
    "fail_stale",
    "is_finished",
    "open_storage",
    "require_driver",
    "this_process",
    "trial_id",
]

HEARTBEAT_S = 5
"""Seconds between a running trial's heartbeats."""
GRACE_S = 30
"""A running trial with no heartbeat for this long is failed by the next process that looks."""
_OPEN_ATTEMPTS = 5


class ProcessInfo(TypedDict):
    """Who runs a trial (the trial's ``host`` and ``pid`` user attributes)."""

    host: str
    pid: int


def this_process() -> ProcessInfo:
    """Who runs a trial: recorded with it, so a rerun on this host can tell it was killed."""
    return ProcessInfo(host=socket.gethostname(), pid=os.getpid())


def trial_id(trial: optuna.trial.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (Optuna keeps it private; heartbeats are keyed by it)."""
    return int(trial._trial_id)


def is_finished(study: optuna.Study, trial: optuna.trial.Trial) -> bool:
    """Whether the storage holds ``trial`` as finished (complete, pruned or failed) now."""
    return bool(study._storage.get_trial(trial_id(trial)).state.is_finished())


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna flags heartbeats as experimental; the flag is no news to our users."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An Optuna ``RDBStorage`` with heartbeats, for any SQLAlchemy URL Optuna accepts.

    Raises:
        UsageError: the URL cannot be read, its driver is missing, or the database cannot be
            reached.
    """
    import optuna
    import sqlalchemy.exc

    require_driver(url)
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            with _quiet_optuna():
                return optuna.storages.RDBStorage(
                    _with_driver(url),
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    engine_kwargs=_engine_kwargs(url),
                )
        except sqlalchemy.exc.DBAPIError as exc:
            # Processes that start together race to create Optuna's tables; the loser
            # finds them made on the next try.
            if attempt + 1 < _OPEN_ATTEMPTS and not exc.connection_invalidated:
                time.sleep(0.5 + random.random())
                continue
            raise _cannot_open(url, exc) from exc
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy/driver errors vary by backend
            raise _cannot_open(url, exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _cannot_open(url: str, exc: Exception) -> UsageError:
    damaged = damaged_storage(url, exc)
    if damaged is not None:
        return UsageError(damaged)
    return UsageError(
        f"--storage {public_url(url)}: cannot open the study storage: {first_line(exc)}"
    )


def damaged_storage(url: str, exc: BaseException) -> str | None:
    """What to say when ``exc`` comes from a damaged SQLite study file; None otherwise.

    Optuna wraps SQLite's "database disk image is malformed" in "An exception is raised
    during the commit ... e.g. exceeding max length", which points nowhere near the file.
    """
    import sqlite3

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sqlite3.DatabaseError) and any(
            word in str(seen) for word in ("malformed", "not a database")
        ):
            return (
                f"the study storage file {_sqlite_file(url)} is damaged ({first_line(seen)}); "
                "restore it from a backup, or start a new study with --study NEW"
            )
        seen = seen.__cause__ or seen.__context__
    return None


def _sqlite_file(url: str) -> str:
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).database or public_url(url)
    except Exception:  # noqa: BLE001 - only for the message
        return public_url(url)


def require_driver(url: str) -> None:
    """Fail at once, with the extra to install, when a PostgreSQL URL's psycopg2 driver is
    missing (it comes with ``dltrain[postgres]``, not with dltrain itself).

    Raises:
        UsageError: ``postgresql://`` (without psycopg 3) or ``postgresql+psycopg2://``, and
            psycopg2 cannot be imported.
    """
    if not _with_driver(url).startswith("postgresql+psycopg2:"):
        return
    try:
        importlib.import_module("psycopg2")
    except ImportError:
        raise UsageError(
            f"--storage {public_url(url)}: a PostgreSQL study storage needs the psycopg2 "
            'driver: pip install "dltrain[postgres]"'
        ) from None


def _with_driver(url: str) -> str:
    """``postgresql://`` through psycopg2 when psycopg (3) is not installed.

    SQLAlchemy 2.1 reads a plain ``postgresql://`` as psycopg 3; dltrain's ``postgres`` extra
    installs psycopg2-binary, so a plain URL must work with it. An explicit driver is kept.
    """
    import importlib.util

    import sqlalchemy.engine

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:  # noqa: BLE001 - RDBStorage reports the bad URL
        return url
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several local processes may share the file: wait for its lock instead of failing.
        return {"connect_args": {"timeout": 60}}
    # A server restart or an idle timeout must not fail a trial hours into a study.
    return {"pool_pre_ping": True}


def fail_stale(study: optuna.Study) -> None:
    """Fail running trials whose heartbeat stopped (any host)."""
    import optuna

    with _quiet_optuna():
        optuna.storages.fail_stale_trials(study)


def current_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials, failing those whose process is gone.

    One storage read, from which the study loop derives its counts, best trial and records;
    a second one when a trial of a gone process on this host was failed. Trials whose
    heartbeat stopped on another host are failed after the read (:func:`fail_stale`): the
    next read shows them failed, and until then they count as running, so at worst this
    process waits once more before it starts a trial.
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if fail_lost_trials(study, trials):
        trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.RUNNING for t in trials):
        fail_stale(study)
    return trials


def fail_lost_trials(study: optuna.Study, trials: Sequence[FrozenTrial]) -> list[int]:
    """Fail the running ``trials`` that belong to a process of this host that is gone.

    Their heartbeats would stop too, but only after the grace period; the owner's process id
    says it at once (:func:`fail_stale` handles other hosts). Returns the trial numbers
    failed here.
    """
    from optuna.trial import TrialState

    me = this_process()
    failed = []
    for trial in trials:
        if trial.state != TrialState.RUNNING:
            continue
        attrs = trial.user_attrs
        if attrs.get("host") != me["host"] or not isinstance(attrs.get("pid"), int):
            continue
        if attrs["pid"] == me["pid"] or pid_alive(attrs["pid"]):
            continue
        reason = f"its process (pid {attrs['pid']} on {me['host']}) stopped during the trial"
        if _fail_trial(study, trial, reason):
            failed.append(trial.number)
    return failed


def _fail_trial(study: optuna.Study, trial: FrozenTrial, reason: str) -> bool:
    """Mark another process's running trial failed, with its reason (False: it had ended).

    Through the storage, as Optuna's own ``fail_stale_trials`` does: ``Study.tell`` only
    takes trials this process asked for.
    """
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    try:
        storage.set_trial_user_attr(trial_id(trial), "reason", reason)
        storage.set_trial_state_values(trial_id(trial), state=TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False  # another process got there first
    return True


class Heartbeat:
    """Records a trial's heartbeat now and then every :data:`HEARTBEAT_S` seconds."""

    def __init__(self, storage: optuna.storages.RDBStorage, trial_id: int) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="dltrain-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.storage.record_heartbeat(self.trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a missed beat is retried at the next one
                self.storage.record_heartbeat(self.trial_id)


@contextlib.contextmanager
def claim_lock(storage: optuna.storages.RDBStorage, study_name: str) -> Iterator[None]:
    """Hold the study's lock: only one process at a time counts trials and starts one.

    PostgreSQL: a session advisory lock; MySQL: ``GET_LOCK``; SQLite: a file lock beside the
    database. Other databases get no lock (processes may then start a trial or two more than
    needed near the end).
    """
    import sqlalchemy

    engine = storage.engine
    dialect = engine.dialect.name
    key = int.from_bytes(hashlib.sha256(f"dltrain:{study_name}".encode()).digest()[:8], "big")
    key -= 1 << 63  # PostgreSQL's bigint is signed
    if dialect == "postgresql":
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
    elif dialect == "mysql":
        with engine.connect() as connection:
            name = f"dltrain-{key & 0xFFFFFFFF:x}"
            connection.execute(sqlalchemy.text("SELECT GET_LOCK(:n, -1)"), {"n": name})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
    elif dialect == "sqlite" and engine.url.database:
        import fcntl

        lock_path = Path(f"{engine.url.database}.lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield
