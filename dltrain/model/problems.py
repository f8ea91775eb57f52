"""Collecting located config problems while a model is built, and reading Keras's errors."""

from __future__ import annotations

import re

from dltrain.errors import ConfigError, Problem
from dltrain.utils.keys import KeyPath, format_path

__all__ = ["ProblemList", "SpecError", "keras_reason"]

# Keras wraps the real cause in layers of context ("could not be deserialized properly ...
# Exception encountered: ..."); the last "Exception encountered:" holds what went wrong.
_ENCOUNTERED = "Exception encountered:"
# Context lines Keras adds around an error raised inside a layer call.
_NOISE = re.compile(r"^(Exception encountered when calling|Arguments received by|•)")
_MAX_REASON = 300


class SpecError(Exception):
    """One problem at a key path, raised by helpers and collected by the builders."""

    def __init__(self, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class ProblemList:
    """Problems found so far, each at a key path of the config.

    The model stage knows key paths only; the config stage adds file:line
    (:meth:`dltrain.config.LoadedConfig.located`).
    """

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: KeyPath, message: str) -> None:
        """Record a problem at ``path``."""
        self.items.append(Problem(message, path=format_path(path), key=tuple(path)))

    def add_error(self, error: SpecError) -> None:
        """Record a :class:`SpecError`."""
        self.add(error.path, error.message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        """Raise one :class:`ConfigError` holding every problem, in file order."""
        if not self.items:
            return
        raise ConfigError(problems=list(self.items))


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def keras_reason(exc: BaseException) -> str:
    """The useful part of a Keras exception: its innermost cause, first line, trimmed."""
    # Keras highlights parts of some messages with terminal escape codes; drop them.
    text = _ANSI.sub("", str(exc))
    if _ENCOUNTERED in text:
        text = text.rsplit(_ENCOUNTERED, 1)[1]
    lines = [line.strip() for line in text.splitlines()]
    useful = [line for line in lines if line and not _NOISE.match(line)]
    reason = useful[0] if useful else type(exc).__name__
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 3] + "..."
    return reason
