"""``extends:`` inheritance and ``--set key.path=value`` overrides on raw config data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dltrain.config.layer_form import layer_key_problem
from dltrain.config.schema import ExperimentConfig
from dltrain.config.yaml_source import KeyPath, SourceMap, format_path, load_yaml_file, parse_yaml
from dltrain.errors import ConfigError, Location, Problem
from dltrain.utils.keys import did_you_mean

__all__ = ["apply_override", "deep_merge", "load_with_extends", "parse_key_path"]

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_key_path(text: str) -> KeyPath:
    """``a.b[0].c`` -> ``("a", "b", 0, "c")``.

    Raises:
        ValueError: the text is not a key path.
    """
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "." and parts and pos + 1 < len(text):
            pos += 1
        match = _PART.match(text, pos)
        if not match:
            raise ValueError(f"cannot read {text!r} as a key path like `training.epochs`")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    if not parts:
        raise ValueError("empty key path")
    return tuple(parts)


def deep_merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Child values win; mappings merge key by key; lists and scalars replace."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_with_extends(
    path: Path, _chain: tuple[Path, ...] = ()
) -> tuple[dict[str, Any], SourceMap, list[Path]]:
    """Load ``path``, following ``extends:`` (relative to each file) depth first.

    Returns the merged data, its source map and the files read, base files first.
    """
    resolved = path.resolve()
    if resolved in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, resolved))
        raise ConfigError(f"`extends` forms a cycle: {cycle}")
    data, source = load_yaml_file(path)
    if not isinstance(data, dict):
        raise ConfigError(
            problems=[
                Problem(
                    f"expected a mapping of config keys at the top level, received "
                    f"{type(data).__name__}",
                    location=source.locate(()),
                )
            ]
        )
    _refuse_foreign_file(data, source)
    parents = data.pop("extends", None)
    if parents is None:
        return data, source, [resolved]
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ConfigError(
            problems=[source.problem(("extends",), "expected a file name or a list of them")]
        )
    merged: dict[str, Any] = {}
    merged_source = SourceMap()
    files: list[Path] = []
    for i, parent in enumerate(parents):
        parent_path = path.parent / parent
        if not parent_path.exists():
            where = (
                ("extends",)
                if len(parents) == 1 and ("extends",) in source.locations
                else (
                    "extends",
                    i,
                )
            )
            raise ConfigError(
                problems=[source.problem(where, f"extended file not found: {parent_path}")]
            )
        p_data, p_source, p_files = load_with_extends(parent_path, (*_chain, resolved))
        merged = deep_merge(merged, p_data)
        merged_source.overlay(p_source)
        files.extend(f for f in p_files if f not in files)
    source.locations.pop(("extends",), None)
    merged = deep_merge(merged, data)
    merged_source.overlay(source)
    files.append(resolved)
    return merged, merged_source, files


def _refuse_foreign_file(data: dict[str, Any], source: SourceMap) -> None:
    """Refuse a mapping none of whose keys is a config key: another kind of file.

    Each line of ``/etc/passwd``-like files reads as a YAML key; listing them all as unknown
    keys would print the file. One problem, at its first key, quotes one line at most.
    """
    known = [*ExperimentConfig.model_fields, "extends"]
    # A file of misspelt keys (`trainning:`) is a config with typos: the schema says which.
    if not data or any(key in known or did_you_mean(key, known) for key in data):
        return
    first = next(iter(data))
    shown = first if len(first) <= 40 else first[:37] + "..."
    raise ConfigError(
        problems=[
            Problem(
                f"not a dltrain config: none of its keys is a config key (the first is "
                f"{shown!r}); expected keys such as data, model, training",
                location=source.locate((first,)),
            )
        ]
    )


def apply_override(data: dict[str, Any], source: SourceMap, override: str) -> None:
    """Apply one ``key.path=value`` override in place; the value is read as YAML.

    Raises:
        ConfigError: malformed override or a path through a non-container.
    """
    # Errors name the override; a huge one (pasted junk) is cut so the message stays a line.
    shown = override if len(override) <= 80 else override[:77] + "..."
    where = Location(f"--set {shown}", 0)
    if "=" not in override:
        raise ConfigError(
            problems=[Problem("expected KEY.PATH=VALUE, e.g. training.epochs=3", location=where)]
        )
    key_text, value_text = override.split("=", 1)
    try:
        path = parse_key_path(key_text.strip())
        value, _ = parse_yaml(value_text, where.file) if value_text.strip() else (None, None)
    except ValueError as exc:
        raise ConfigError(problems=[Problem(str(exc), location=where)]) from exc
    wrong_form = layer_key_problem(data, path)
    if wrong_form is not None:
        raise ConfigError(problems=[Problem(wrong_form, format_path(path), where)])
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        here = format_path(path[: depth + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                size = f"a list of {len(node)}" if isinstance(node, list) else "not a list"
                raise ConfigError(
                    problems=[Problem(f"no item [{part}] here ({size})", here, where)]
                )
            node = node[part]
        else:
            if not isinstance(node, dict):
                raise ConfigError(
                    problems=[Problem("not a mapping, cannot set a key in it", here, where)]
                )
            nxt = path[depth + 1]
            if part not in node or node[part] is None:
                node[part] = [] if isinstance(nxt, int) else {}
                # A key the override made up (a typo'd `trainig.epochs`) is reported at the
                # --set argument, not at the file's first line.
                source.locations[path[: depth + 1]] = where
            node = node[part]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or not 0 <= last < len(node):
            size = f"a list of {len(node)}" if isinstance(node, list) else "not a list"
            raise ConfigError(
                problems=[Problem(f"no item [{last}] here ({size})", format_path(path), where)]
            )
        node[last] = value
    else:
        if not isinstance(node, dict):
            raise ConfigError(
                problems=[
                    Problem("not a mapping, cannot set a key in it", format_path(path[:-1]), where)
                ]
            )
        node[last] = value
    for known in [p for p in source.locations if p[: len(path)] == path]:
        del source.locations[known]
    source.locations[path] = where
