"""Help-screen conventions of the ``dltrain`` command line.

Typer shows every option's value type, so an on/off flag reads ``--quiet -q <bool>`` as if
it took a value. The command and group classes here show flags bare; the app class makes every
command use them. Positional arguments are named in capitals (``CONFIG``, ``RUN``) in
the command modules beside this one (``dltrain/cli/*_commands.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

__all__ = ["App"]


def _bare_flags(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            # An empty metavar is what the help screen prints in the type column.
            param.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))


class App(typer.Typer):
    """A :class:`typer.Typer` whose help screens show on/off flags without a value type."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", _Group)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """Register a command (see :meth:`typer.Typer.command`) with the flag-aware class."""
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)
