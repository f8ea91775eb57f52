"""``load_config``: YAML file (+ extends, + overrides) -> validated :class:`ExperimentConfig`."""

from __future__ import annotations

import copy
import hashlib
import json
import types
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dltrain.config.layer_form import short_layer, shorten_layers
from dltrain.config.overrides import apply_override, load_with_extends
from dltrain.config.plugin_schema import experiment_model
from dltrain.config.schema import (
    CsvData,
    ExperimentConfig,
    FolderData,
    LayerSpec,
    MnistData,
    OutputConfig,
)
from dltrain.config.yaml_source import KeyPath, SourceMap
from dltrain.errors import ConfigError, Problem
from dltrain.plugins import ImportedModule, ImportFailure, import_plugin, load_entry_points
from dltrain.utils.keys import did_you_mean

__all__ = ["LoadedConfig", "config_from_dict", "did_you_mean", "load_config"]


@dataclass
class LoadedConfig:
    """A validated config plus where each of its values was written."""

    config: ExperimentConfig
    source: SourceMap
    path: Path | None = None
    files: list[Path] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    imports: list[ImportedModule] = field(default_factory=list)
    """The modules ``imports`` named, as imported (``run.json`` records them)."""

    def problem(self, path: KeyPath, message: str) -> Problem:
        """A problem located at a key path of this config."""
        return self.source.problem(path, message)

    @contextmanager
    def located(self) -> Iterator[None]:
        """Add file:line:col to the key-path problems that later stages raise, in file order.

        The model and train stages know key paths only; inside this block their
        :class:`ConfigError` gains the places where the values were written.
        """
        try:
            yield
        except ConfigError as exc:
            if not any(p.key and p.location is None for p in exc.problems):
                raise
            problems = [
                self.problem(p.key, p.message) if p.key and p.location is None else p
                for p in exc.problems
            ]
            problems.sort(
                key=lambda p: (
                    (p.location.line, p.location.column) if p.location else (0, 0),
                    p.path,
                )
            )
            raise ConfigError(exc.message if len(problems) > 1 else "", problems) from None

    def with_overrides(self, overrides: Sequence[str]) -> LoadedConfig:
        """This config with more ``key.path=value`` overrides, provenance kept.

        A config read from a file is read again (its locations, ``extends`` chain and earlier
        overrides stay); a config given as a mapping is validated again from its values.
        """
        if not overrides:
            return self
        if self.path is not None:
            return load_config(self.path, [*self.overrides, *overrides])
        again = config_from_dict(self.to_dict(), overrides)
        again.overrides = [*self.overrides, *overrides]
        return again

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved config as plain data (what ``config.yaml`` holds).

        Layers are in the short form users write (``{Dense: {units: 64}}``), so the keys of
        the run folder's config are the keys ``--set`` and ``dltrain compare`` use.
        """
        data = self.config.model_dump(mode="json", exclude_none=True)
        data["model"]["layers"] = [short_layer(entry) for entry in data["model"]["layers"]]
        return data

    def to_yaml(self) -> str:
        """The fully resolved config as YAML."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def digest(self) -> str:
        """A stable hash of the resolved config (sha256 of its canonical JSON)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def load_config(path: Path, overrides: Sequence[str] = ()) -> LoadedConfig:
    """Load, merge, override, validate and resolve an experiment config file.

    Args:
        path: The YAML file.
        overrides: ``key.path=value`` strings applied in order after ``extends``.

    Raises:
        ConfigError: with every problem found, each located in its file.
    """
    data, source, files = load_with_extends(path)
    data.setdefault("name", path.stem)
    return _finish(data, source, overrides, path, files)


def config_from_dict(
    data: dict[str, Any],
    overrides: Sequence[str] = (),
    base_dir: Path | None = None,
    *,
    import_paths: Sequence[Path] = (),
) -> LoadedConfig:
    """Validate a config given as a Python mapping (paths relative to ``base_dir`` or cwd).

    ``imports`` are looked for in ``import_paths`` (a saved run's recorded folders), then
    ``base_dir`` (or cwd), then ``sys.path``.
    """
    source = SourceMap()
    data = copy.deepcopy(data)
    return _finish(data, source, overrides, None, [], base_dir, import_paths)


def _finish(
    data: dict[str, Any],
    source: SourceMap,
    overrides: Sequence[str],
    path: Path | None,
    files: list[Path],
    base_dir: Path | None = None,
    import_paths: Sequence[Path] = (),
) -> LoadedConfig:
    # Long-form layers (older run folders) take the short form first, so that overrides and
    # error messages use one key form: model.layers[1].Dense.units.
    shorten_layers(data, source)
    for override in overrides:
        apply_override(data, source, override)
    default_dir = (base_dir or (path.parent if path else Path.cwd())).resolve()
    # Plugins register dataset kinds and Keras objects, so they are imported before validation.
    load_entry_points()
    search = [*import_paths, default_dir, *(f.parent for f in reversed(files))]
    imported = _import_modules(data, source, path, list(dict.fromkeys(search)))
    try:
        config = experiment_model().model_validate(data)
    except ValidationError as exc:
        problems = _translate(exc, data, source)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{path or 'config'}: {count} in the config", problems) from None
    _resolve_paths(config, source, default_dir)
    return LoadedConfig(config, source, path, files, list(overrides), imported)


def _import_modules(
    data: dict[str, Any], source: SourceMap, path: Path | None, search: list[Path]
) -> list[ImportedModule]:
    """Import the modules of ``imports``; a failure is a problem at that list item."""
    names = data.get("imports")
    if not isinstance(names, list):
        return []  # Absent, or malformed: validation reports that.
    imported, problems = [], []
    for index, name in enumerate(names):
        if not isinstance(name, str):
            continue
        try:
            imported.append(import_plugin(name, search))
        except ImportFailure as exc:
            problems.append(source.problem(("imports", index), str(exc)))
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{path or 'config'}: {count} in the config", problems)
    return imported


def _resolve_paths(config: ExperimentConfig, source: SourceMap, default_dir: Path) -> None:
    """Make every path absolute, relative to the file that wrote it."""

    def resolve(value: str | None, key: KeyPath) -> str | None:
        if value is None:
            return None
        candidate = Path(value).expanduser()
        if candidate.is_absolute():
            return str(candidate)
        loc = source.locate(key)
        if loc is not None and loc.line and loc.file and key in source.locations:
            base = Path(loc.file).parent
        else:
            base = Path.cwd() if loc is not None and not loc.line else default_dir
        return str((base / candidate).resolve())

    data = config.data
    if isinstance(data, MnistData):
        data.path = resolve(data.path, ("data", "path"))
    elif isinstance(data, CsvData):
        for name in ("path", "train_path", "test_path"):
            setattr(data, name, resolve(getattr(data, name), ("data", name)))
    elif isinstance(data, FolderData):
        for name in ("path", "index"):
            setattr(data, name, resolve(getattr(data, name), ("data", name)))
    out: OutputConfig = config.output
    out.runs_dir = resolve(out.runs_dir, ("output", "runs_dir"))
    if config.init_from is not None:
        # RUN[:best|last]: the run's path is resolved like data paths, the suffix kept.
        target, sep, which = config.init_from.rpartition(":")
        if not (sep and which in ("best", "last")):
            target, which = config.init_from, ""
        resolved = resolve(target, ("init_from",))
        config.init_from = f"{resolved}:{which}" if which else resolved
    if config.distill is not None:
        target, sep, which = config.distill.teacher.rpartition(":")
        if not (sep and which in ("best", "last")):
            target, which = config.distill.teacher, ""
        teacher = resolve(target, ("distill", "teacher")) or target
        config.distill.teacher = f"{teacher}:{which}" if which else teacher


# ------------------------------------------------------------ validation errors

_LAYER_RESERVED = {"name", "inputs", "shared"}


def _data_path(loc: tuple[int | str, ...], raw: Any, keep_last: bool) -> KeyPath:
    """Pydantic's error location -> the key path in the user's data.

    Pydantic puts union tags ('csv', 'constrained-int', "literal['full']") into locations;
    they are dropped by walking the raw data and keeping only parts that exist there.
    """
    out: list[str | int] = []
    node = raw
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if part in ("config", "class_name"):
                class_keys = [k for k in node if k not in _LAYER_RESERVED]
                if len(class_keys) == 1:
                    out.append(class_keys[0])
                    node = node[class_keys[0]]
                    continue
            if last and keep_last and isinstance(part, str):
                out.append(part)
            continue
        if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
            continue
        if last and keep_last:
            out.append(part)
    return tuple(out)


def _model_candidates(tp: Any) -> list[type[BaseModel]]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _model_candidates(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(tp):
            found.extend(_model_candidates(arg))
        return found
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return []


def _container_item(tp: Any, index: bool) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _container_item(typing.get_args(tp)[0], index)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            item = _container_item(arg, index)
            if item is not None:
                return item
        return None
    if index and origin is list:
        return typing.get_args(tp)[0]
    if not index and origin is dict:
        return typing.get_args(tp)[1]
    return None


def _pick_model(candidates: list[type[BaseModel]], raw: Any) -> type[BaseModel] | None:
    if len(candidates) == 1:
        return candidates[0]
    if not isinstance(raw, dict):
        return None
    for cls in candidates:
        for tag in ("kind", "type"):
            field_info = cls.model_fields.get(tag)
            if field_info is None:
                continue
            allowed = typing.get_args(field_info.annotation)
            if raw.get(tag, field_info.default) in allowed:
                return cls
    return None


def _allowed_keys(path: KeyPath, raw: Any) -> list[str] | None:
    """The keys the schema allows in the mapping at ``path`` (None if not a model)."""
    tp: Any = experiment_model()
    node = raw
    for part in path:
        if isinstance(part, int):
            tp = _container_item(tp, index=True)
        else:
            model = _pick_model(_model_candidates(tp), node)
            if model is not None and part in model.model_fields:
                tp = model.model_fields[part].annotation
            else:
                tp = _container_item(tp, index=False)
        if tp is None:
            return None
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    model = _pick_model(_model_candidates(tp), node)
    if model is None or model is LayerSpec:
        return None
    return list(model.model_fields)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _translate(exc: ValidationError, raw: dict[str, Any], source: SourceMap) -> list[Problem]:
    grouped: dict[KeyPath, list[Any]] = {}
    data = raw.get("data")
    kind_tag = data.get("kind") if isinstance(data, dict) else None
    for err in exc.errors(include_url=False):
        kind = err["type"]
        loc = err["loc"]
        if loc[:2] == ("data", kind_tag):
            # The union's tag: dropped here, since a plugin section may have a field so named.
            loc = loc[:1] + loc[2:]
        path = _data_path(loc, raw, keep_last=kind in ("missing", "extra_forbidden"))
        if kind in ("union_tag_invalid", "union_tag_not_found", "invalid_model_type"):
            key = _tag_key(err) if kind != "invalid_model_type" else "type"
            path = path + (key,)
        grouped.setdefault(path, []).append(err)
    problems = []
    for path, errs in grouped.items():
        problems.append(source.problem(path, _message(path, errs, raw)))
    problems.sort(key=lambda p: (p.location.line if p.location else 0, p.path))
    return problems


def _tag_key(err: Any) -> str:
    """The discriminator key of a tagged-union error (``kind`` for data, ``type`` for params)."""
    return str(err.get("ctx", {}).get("discriminator", "'kind'")).strip("'")


def _message(path: KeyPath, errs: list[dict[str, Any]], raw: dict[str, Any]) -> str:
    first = errs[0]
    kind = first["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(path[:-1], raw) or []
        hint = did_you_mean(key, allowed)
        if not hint and allowed:
            hint = "; allowed keys: " + ", ".join(allowed)
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        return f"missing required key {str(path[-1])!r}"
    if kind == "union_tag_not_found":
        return f"missing required key {str(path[-1])!r}"
    if kind == "union_tag_invalid":
        ctx = first.get("ctx", {})
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag"))
        hint = did_you_mean(tag, tags)
        what = "data kind" if path[-1] == "kind" else str(path[-1])
        return f"unknown {what} {tag!r}{hint}; expected one of: {', '.join(tags)}"
    if kind == "invalid_model_type":
        value = first["input"].get("type") if isinstance(first["input"], dict) else first["input"]
        hint = did_you_mean(str(value), ["sequential", "functional"])
        return f"unknown model type {value!r}{hint}; expected 'sequential' or 'functional'"
    expected: list[str] = []
    for err in errs:
        text = str(err["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            text = text.removeprefix(prefix)
        text = text.replace("Input should be ", "")
        text = text.replace("Input should have ", "have ")
        text = text.split(", unable to", 1)[0]
        for bound in ("greater than", "less than"):
            if text.startswith(bound):
                text = "a value " + text
        if text not in expected:
            expected.append(text)
    what = " or ".join(expected)
    if kind == "value_error":
        return what
    return f"expected {what}; received {_describe(first['input'])}"
