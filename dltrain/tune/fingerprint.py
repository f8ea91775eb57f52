"""The experiment a study searches around: everything its trials share, and a hash of it.

Trials of one study are ranked against each other, so they must differ only by their searched
values. A study records the resolved config minus the searched keys (and minus the keys that
cannot change a result); a later ``dltrain tune`` of the study compares its own with it and
refuses an experiment that changed (other ``--set`` values, another optimizer, fewer epochs)
instead of ranking incomparable trials together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from dltrain.config import LoadedConfig
from dltrain.utils.keys import KeyPath, format_path

__all__ = ["describe_changes", "experiment_values", "fingerprint"]

# Keys that name or file a run but cannot change what it trains; ``tune`` is the study's own
# (its metric and direction are compared on their own, its trials and timeout may change).
_IGNORED = ("name", "description", "output", "tracking", "tune")
_SHOWN = 12


def experiment_values(loaded: LoadedConfig, searched: Iterable[KeyPath]) -> dict[str, Any]:
    """The resolved config's values by ``--set`` key path, without the searched keys and
    the keys that cannot change a result."""
    data = loaded.to_dict()
    for key in _IGNORED:
        data.pop(key, None)
    flat: dict[str, Any] = {}
    _flatten(data, (), flat)
    prefixes = [format_path(path) for path in searched]
    return {
        key: value
        for key, value in flat.items()
        if not any(key == p or key.startswith((f"{p}.", f"{p}[")) for p in prefixes)
    }


def _flatten(node: Any, path: KeyPath, into: dict[str, Any]) -> None:
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            _flatten(value, (*path, str(key)), into)
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            _flatten(value, (*path, index), into)
    else:
        into[format_path(path)] = node


def fingerprint(values: Mapping[str, Any]) -> str:
    """A sha256 of :func:`experiment_values` (key order does not matter)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``key: old -> new`` for every value that differs (``-`` for a missing one)."""
    lines = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, _MISSING), new.get(key, _MISSING)
        if before != after:
            lines.append(f"{key}: {_show(before)} -> {_show(after)}")
    if len(lines) > _SHOWN:
        lines[_SHOWN:] = [f"... and {len(lines) - _SHOWN} more"]
    return lines


_MISSING = object()


def _show(value: Any) -> str:
    return "-" if value is _MISSING else json.dumps(value, default=str)
