"""The dltrain exception tree.

Library code raises these; only :mod:`dltrain.cli` turns them into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DiskFullError",
    "DltrainError",
    "ExportError",
    "Location",
    "Problem",
    "RunFolderError",
    "StudyError",
    "TrainingError",
    "TrackingError",
    "UsageError",
    "first_line",
]


def first_line(
    exc: BaseException, *, typed: bool = False, limit: int | None = None, empty: str | None = None
) -> str:
    """An exception's message in one line, for a message of ours that quotes it.

    The first non-empty line; ``typed`` puts the exception's type in front
    (``ValueError: ...``); an empty message gives ``empty`` or the type's name; ``limit``
    cuts a long line with ``...``.
    """
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__
    if not lines:
        return name if empty is None else empty
    text = f"{name}: {lines[0]}" if typed else lines[0]
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


@dataclass(frozen=True)
class Location:
    """A place in a text file: 1-based line and column (column may be 0 when unknown)."""

    file: str
    line: int
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        if self.column:
            return f"{self.file}:{self.line}:{self.column}"
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, which key, and what."""

    message: str
    path: str = ""
    location: Location | None = None
    key: tuple[str | int, ...] = ()
    """The key path as parts, so a later stage can locate a problem raised without a source."""

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        key = f"{self.path}: " if self.path else ""
        return f"{where}{key}{self.message}"


class DltrainError(Exception):
    """Base class of every error dltrain reports to the user (exit code 2 unless overridden)."""

    exit_code = 2

    def __init__(self, message: str = "", problems: list[Problem] | None = None) -> None:
        self.problems: list[Problem] = list(problems or [])
        if not message and self.problems:
            message = str(self.problems[0]) if len(self.problems) == 1 else ""
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        """The full user-facing message, one line per problem."""
        lines = [self.message] if self.message else []
        if self.problems and not (
            len(self.problems) == 1 and self.message == str(self.problems[0])
        ):
            if not lines:
                count = len(self.problems)
                lines.append(f"{count} problem{'s' if count > 1 else ''} found:")
            lines.extend(f"  {p}" for p in self.problems)
        return "\n".join(lines)


class ConfigError(DltrainError):
    """The experiment config is missing, unreadable or invalid."""


class DataError(DltrainError):
    """A data file is missing, malformed or does not fit the config.

    ``key`` is the config key whose value the problem is about (``("data", "target")``), so
    that a caller holding the config's source can name the file and line it was written at.
    """

    def __init__(
        self,
        message: str = "",
        problems: list[Problem] | None = None,
        *,
        key: tuple[str | int, ...] | None = None,
    ) -> None:
        self.key = key
        self.detail = message
        if key is not None and not problems:
            from dltrain.utils.keys import format_path

            problems = [Problem(message, format_path(key), key=key)]
            message = ""
        super().__init__(message, problems)


class CheckpointError(DltrainError):
    """A checkpoint or run folder cannot be read."""


class RunFolderError(DltrainError):
    """The runs directory cannot be created or written."""


class UsageError(DltrainError):
    """Command-line arguments that do not make sense together."""


class ExportError(DltrainError):
    """A model cannot be exported in the requested format (or a converter is missing)."""


class TrainingError(DltrainError):
    """Training started but failed (for example the loss became NaN)."""

    exit_code = 1


class DiskFullError(TrainingError):
    """The disk filled up while a run was being written (exit 1; ``--resume`` continues)."""


class StudyError(DltrainError):
    """A tuning study cannot go on: its storage or its folder cannot be written (exit 1)."""

    exit_code = 1


class TrackingError(DltrainError):
    """The experiment-tracking server could not be reached or refused a run (exit 1)."""

    exit_code = 1
