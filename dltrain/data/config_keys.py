"""Data errors that name the config line: which key a data problem is about.

The data stage works on typed config objects, which do not know where their values were
written. A :class:`~dltrain.errors.DataError` carries the config key it concerns
(``data.path``, ``data.target[1]``); :func:`locate` adds the file and line from the config's
source map, so ``houses.yaml:7:9: data.path: ...: file not found`` says what to fix where.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dltrain.config.yaml_source import KeyPath, SourceMap
from dltrain.errors import DataError

__all__ = ["about", "locate"]


@contextmanager
def about(key: KeyPath | None) -> Iterator[None]:
    """Data errors raised inside concern the config value at ``key`` (None: no key)."""
    try:
        yield
    except DataError as exc:
        if key is None or exc.key is not None:
            raise
        raise DataError(exc.message, key=key) from None


def locate(error: DataError, source: SourceMap | None) -> DataError:
    """``error`` with the config file and line of its key, when both are known."""
    if error.key is None or source is None or source.locate(error.key) is None:
        return error
    located = DataError(problems=[source.problem(error.key, error.detail)], key=error.key)
    located.detail = error.detail
    return located
