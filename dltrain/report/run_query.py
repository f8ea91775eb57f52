"""``dltrain runs --json/--sort/--filter``: a listed row as a record, and rows picked by it.

One set of names serves all three: the keys of :func:`run_record` (and of the study and trial
records in :mod:`dltrain.report.study_listing`) are what ``--json`` prints and what ``--sort``
and ``--filter`` accept, so a key seen in the JSON can be sorted and filtered on as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from dltrain.errors import UsageError
from dltrain.report.listing import RunSummary

__all__ = ["RUN_KEYS", "run_record", "select_rows"]

RUN_KEYS = (
    "kind",
    "name",
    "run",
    "path",
    "status",
    "started",
    "epochs",
    "epochs_planned",
    "best",
    "best_metric",
    "best_epoch",
    "test",
    "test_metric",
    "duration",
    "data",
    "description",
    "error",
)
"""The scalar keys of a run record, in ``--json`` order: what ``--sort``/``--filter`` take."""

_Row = TypeVar("_Row")
_FILTER = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(!=|>=|<=|=|>|<)(.*)$")


def run_record(run: RunSummary) -> dict[str, Any]:
    """A run as ``--json`` prints it: :data:`RUN_KEYS` (``kind`` is ``run``), then
    ``test_metrics`` (all of them).

    ``started`` is ISO 8601 in UTC, ``duration`` seconds, ``best``/``test`` the values of
    ``best_metric`` (the run's monitor) and ``test_metric`` (``accuracy``, else ``loss``);
    a value the run does not have is null, and so is a NaN or infinite one.
    """
    return {
        "kind": "run",
        "name": run.name,
        "run": run.path.name,
        "path": str(run.path),
        "status": run.status,
        "started": run.started.isoformat(),
        "epochs": run.epochs_completed,
        "epochs_planned": run.epochs_planned,
        "best": _finite(run.best[1]) if run.best else None,
        "best_metric": run.best[0] if run.best else None,
        "best_epoch": run.best_epoch,
        "test": _finite(run.test_metric[1]) if run.test_metric else None,
        "test_metric": run.test_metric[0] if run.test_metric else None,
        "duration": run.duration_s,
        "data": run.data,
        "description": run.description,
        "error": run.error,
        "test_metrics": {k: _finite(v) for k, v in run.test_metrics.items()},
    }


def select_rows(
    rows: Sequence[_Row],
    record: Callable[[_Row], dict[str, Any]],
    keys: Sequence[str],
    *,
    filters: Sequence[str] = (),
    sort: str | None = None,
    descending: bool = False,
) -> list[_Row]:
    """The rows that pass every filter, sorted by one key (else in their given order).

    Args:
        rows: Listed rows (runs, trials or studies).
        record: A row's record (:func:`run_record` for runs).
        keys: The keys ``filters`` and ``sort`` may name.
        filters: ``KEY=GLOB`` (shell-style: ``name=mnist*``), ``KEY!=GLOB``, or ``KEY>X``,
            ``KEY>=X``, ``KEY<X``, ``KEY<=X`` (numbers compare as numbers, other values as
            text, so ``started>2026-12-01`` works); a row must pass all of them, and a row
            without the key (null) passes none but ``!=``.
        sort: A key, ascending; ``-KEY`` sorts descending. Rows without the value go last.
        descending: Sort descending (``--desc``; with ``-KEY`` it is still descending).

    Raises:
        UsageError: a filter that is not ``KEY<op>VALUE``, an unknown key (naming the
            accepted ones), or a comparison with a value that is not a number where the
            key's values are numbers.
    """
    tests = [_parse_filter(text, keys) for text in filters]
    picked = [row for row in rows if all(test(record(row)) for test in tests)]
    if sort is None:
        return picked
    key = sort[1:] if sort.startswith("-") else sort
    _check_key(key, keys, "--sort")
    descending = descending or sort.startswith("-")
    present = [row for row in picked if record(row).get(key) is not None]
    absent = [row for row in picked if record(row).get(key) is None]
    present.sort(key=lambda row: _order(record(row)[key]), reverse=descending)
    return present + absent


def _check_key(key: str, keys: Sequence[str], option: str) -> None:
    if key not in keys:
        raise UsageError(
            f"{option}: unknown key {key!r}; accepted: {', '.join(keys)}. Received: {key}"
        )


def _parse_filter(text: str, keys: Sequence[str]) -> Callable[[dict[str, Any]], bool]:
    match = _FILTER.match(text)
    if not match:
        raise UsageError(
            f"--filter takes KEY=GLOB, KEY!=GLOB or KEY>VALUE (also >=, <, <=), e.g. "
            f"status=completed or name=mnist*. Received: {text!r}"
        )
    key, op, wanted = match.group(1), match.group(2), match.group(3).strip()
    _check_key(key, keys, "--filter")
    if op in ("=", "!="):
        negate = op == "!="
        return lambda rec: _glob(rec.get(key), wanted) != negate
    number = _as_number(wanted)

    def compare(rec: dict[str, Any]) -> bool:
        value = rec.get(key)
        if value is None:
            return False
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if number is None:
                raise UsageError(
                    f"--filter {text!r}: {key} is a number; compare it with a number. "
                    f"Received: {wanted!r}"
                )
            left: Any = value
            right: Any = number
        else:
            left, right = _text(value), wanted
        return bool(
            {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
        )

    return compare


def _glob(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and (number := _as_number(pattern)) is not None:
        return value == number  # best=0.3 matches the value 0.3, which str() may spell longer
    return fnmatchcase(_text(value), pattern)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _order(value: Any) -> tuple[int, Any]:
    # Numbers before text, so a key whose values mix the two still sorts.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, _text(value))


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
