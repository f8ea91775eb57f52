"""Collecting located config problems while a model is built, and reading Keras's errors."""

from __future__ import annotations

import re

from dltrain.config.loader import LoadedConfig
from dltrain.config.yaml_source import KeyPath
from dltrain.errors import ConfigError, Problem

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
    """Problems found so far, each located through the loaded config's source map."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        self.items: list[Problem] = []

    def add(self, path: KeyPath, message: str) -> None:
        """Record a problem at ``path``."""
        self.items.append(self.loaded.problem(path, message))

    def add_error(self, error: SpecError) -> None:
        """Record a :class:`SpecError`."""
        self.add(error.path, error.message)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        """Raise one :class:`ConfigError` holding every problem, in file order."""
        if not self.items:
            return
        ordered = sorted(
            self.items,
            key=lambda p: (
                (p.location.line, p.location.column) if p.location else (0, 0),
                p.path,
            ),
        )
        raise ConfigError(problems=ordered)


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
