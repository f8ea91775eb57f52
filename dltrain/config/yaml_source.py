"""Safe YAML loading that remembers where every value came from.

PyYAML's ``safe_load`` semantics, plus:

* each key path maps to the ``file:line:column`` it was written at, so later stages can point
  at the exact spot of a problem;
* plain scientific notation (``1e-3``) is a float, as users expect (YAML 1.1 wants ``1.0e-3``);
* duplicate keys, non-string keys and runaway alias expansion are errors instead of silent
  surprises.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dltrain.errors import ConfigError, Location, Problem
from dltrain.utils.keys import KeyPath, format_path

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "KeyPath",
    "SourceMap",
    "format_path",
    "load_yaml_file",
    "parse_yaml",
    "read_config_text",
]

MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""The largest config file read (4 MiB): real configs are a few KB; ``extends: /dev/zero``
or a huge log named by mistake must not be read into memory."""

MAX_DEPTH = 64
"""The deepest nesting of mappings and lists a config may have (real ones have under 10)."""


# The largest number of nodes one file may expand to (guards against "billion laughs" aliases).
_MAX_NODES = 200_000


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` and ``5E+2`` as floats."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+
        |[-+]?\.[0-9_]+[eE][-+]?[0-9]+)$""",
        re.X,
    ),
    list("-+0123456789."),
)


@dataclass
class SourceMap:
    """Where each key path of a loaded document was written."""

    locations: dict[KeyPath, Location] = field(default_factory=dict)

    def locate(self, path: Iterable[str | int]) -> Location | None:
        """The location of ``path``, or of its nearest ancestor that has one."""
        key = tuple(path)
        while True:
            if key in self.locations:
                return self.locations[key]
            if not key:
                return None
            key = key[:-1]

    def problem(self, path: Iterable[str | int], message: str) -> Problem:
        """A :class:`Problem` at ``path``, located in the source."""
        key = tuple(path)
        return Problem(message=message, path=format_path(key), location=self.locate(key), key=key)

    def overlay(self, other: SourceMap, prefix: KeyPath = ()) -> None:
        """Record ``other``'s locations (under ``prefix``), replacing what they cover."""
        for path in [p for p in self.locations if p[: len(prefix)] == prefix and p != prefix]:
            if path[len(prefix) :] in other.locations:
                del self.locations[path]
        for path, loc in other.locations.items():
            self.locations[prefix + path] = loc


class _Builder:
    def __init__(self, loader: _Loader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.source = SourceMap()
        self.count = 0

    def _loc(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.filename, mark.line + 1, mark.column + 1)

    def build(self, node: yaml.Node, path: KeyPath, stack: tuple[int, ...] = ()) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise ConfigError(
                problems=[
                    Problem(
                        "the document expands to too many values (recursive or repeated aliases?)",
                        location=self._loc(node),
                    )
                ]
            )
        if len(path) > MAX_DEPTH:
            raise ConfigError(
                problems=[
                    Problem(
                        f"nested more than {MAX_DEPTH} levels deep; a config is not that deep",
                        location=self._loc(node),
                    )
                ]
            )
        self.source.locations.setdefault(path, self._loc(node))
        if id(node) in stack:
            raise ConfigError(
                problems=[
                    Problem(
                        "a recursive alias refers to itself", format_path(path), self._loc(node)
                    )
                ]
            )
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            raise ConfigError(
                problems=[
                    Problem(
                        f"invalid YAML: unsupported tag {node.tag!r} (only plain data is allowed)",
                        format_path(path),
                        self._loc(node),
                    )
                ]
            )
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise ConfigError(
                        problems=[
                            Problem(
                                f"keys must be text, received {key!r}",
                                format_path(path),
                                self._loc(key_node),
                            )
                        ]
                    )
                if key in out:
                    raise ConfigError(
                        problems=[
                            Problem(
                                f"duplicate key {key!r} (first given at line "
                                f"{self.source.locations[path + (key,)].line})",
                                format_path(path + (key,)),
                                self._loc(key_node),
                            )
                        ]
                    )
                self.source.locations[path + (key,)] = self._loc(key_node)
                out[key] = self.build(value_node, path + (key,), stack + (id(node),))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [
                self.build(item, path + (i,), stack + (id(node),))
                for i, item in enumerate(node.value)
            ]
        return self.loader.construct_object(node, deep=True)


def parse_yaml(text: str, filename: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse one YAML document, returning the data and where each value was written.

    Raises:
        ConfigError: invalid YAML, an empty document, or an unsafe construct.
    """
    _refuse_deep_flow(text, filename)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(
                problems=[Problem("the file is empty", location=Location(filename, 1))]
            )
        builder = _Builder(loader, filename)
        data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(filename, mark.line + 1, mark.column + 1) if mark else None
        what = " ".join(str(s) for s in (exc.context, exc.problem) if s)
        raise ConfigError(problems=[Problem(f"invalid YAML: {what}", location=loc)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(
            problems=[Problem(f"invalid YAML: {exc}", location=Location(filename, 1))]
        ) from exc
    except RecursionError:
        # PyYAML's parser recurses once per level: thousands of `[[[...` end here.
        raise ConfigError(
            problems=[
                Problem(
                    f"invalid YAML: nested too deeply (a config has at most {MAX_DEPTH} levels)",
                    location=Location(filename, 1),
                )
            ]
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, builder.source


_OPENS = (yaml.FlowSequenceStartToken, yaml.FlowMappingStartToken)
_CLOSES = (yaml.FlowSequenceEndToken, yaml.FlowMappingEndToken)


def _refuse_deep_flow(text: str, filename: str) -> None:
    """Refuse ``[[[[...`` nested past :data:`MAX_DEPTH` before PyYAML's parser recurses into
    it: its tokens are read flat, so the answer comes in milliseconds and names the place,
    where the parser would take seconds to run out of stack. Text with few brackets is not
    scanned; anything the scanner rejects is left to the parse, which says what is wrong."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    loader = _Loader(text)
    depth = 0
    try:
        while loader.check_token():
            token = loader.get_token()  # type: ignore[no-untyped-call]
            if isinstance(token, _OPENS):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = token.start_mark
                    raise ConfigError(
                        problems=[
                            Problem(
                                "invalid YAML: nested too deeply (a config has at most "
                                f"{MAX_DEPTH} levels)",
                                location=Location(filename, mark.line + 1, mark.column + 1),
                            )
                        ]
                    )
            elif isinstance(token, _CLOSES):
                depth -= 1
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


def read_config_text(path: Path) -> str:
    """The text of a config file, refusing what is not a small regular UTF-8 file.

    The checks come before anything is read: ``/dev/zero``, a FIFO or a folder would
    otherwise be read without end or block.

    Raises:
        ConfigError: missing, not a regular file, larger than :data:`MAX_CONFIG_BYTES`,
            unreadable or not UTF-8.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: is a folder, expected a YAML file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            f"{path}: not a regular file (a device, pipe or socket); expected a YAML file"
        )
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: {info.st_size:,} bytes; a config file may have at most "
            f"{MAX_CONFIG_BYTES:,} bytes"
        )
    try:
        with open(path, "rb") as handle:
            # At most one byte more than allowed, in case the file grew since stat().
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: a config file may have at most {MAX_CONFIG_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})"
        ) from exc


def load_yaml_file(path: Path) -> tuple[Any, SourceMap]:
    """Read and parse a YAML file, with clear errors for missing or unreadable files."""
    text = read_config_text(path)
    if not text.strip():
        raise ConfigError(problems=[Problem("the file is empty", location=Location(str(path), 1))])
    return parse_yaml(text, str(path))
