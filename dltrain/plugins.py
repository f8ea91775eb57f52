"""Users' own components: importing plugin modules, the dataset-kind registry, entry points.

A config's ``imports: [my_project.layers, ...]`` names modules that register things when they
are imported: Keras objects through ``@keras.saving.register_keras_serializable`` (then usable
by name anywhere a config names a Keras object) and dataset kinds through
:func:`register_dataset`. Installed packages register the same way through the entry-point
group ``dltrain.plugins``, loaded once per process.

This module imports neither TensorFlow nor Keras; plugin modules may.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from dltrain.errors import ConfigError, first_line

if TYPE_CHECKING:
    from dltrain.config.schema import ExperimentConfig
    from dltrain.data.pipeline import Datasets

__all__ = [
    "BUILTIN_KINDS",
    "ENTRY_POINT_GROUP",
    "DatasetKind",
    "DatasetLoader",
    "ImportFailure",
    "ImportedModule",
    "dataset_kind",
    "dataset_kinds",
    "import_paths_of",
    "import_plugin",
    "import_plugins",
    "load_entry_points",
    "register_dataset",
]

ENTRY_POINT_GROUP = "dltrain.plugins"
BUILTIN_KINDS = ("mnist", "fashion_mnist", "csv")
_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

DatasetLoader = Callable[[Any, "ExperimentConfig", "Path | None"], "Datasets"]
"""``loader(section, config, test_path) -> Datasets``: the section is the validated
``data`` mapping (an instance of the registered config class), ``config`` the whole
experiment, ``test_path`` the file ``dltrain eval --data`` gives (or None)."""

_Loader = TypeVar("_Loader", bound=Callable[..., Any])


@dataclass(frozen=True)
class DatasetKind:
    """One registered ``data.kind``: its config section and its loader."""

    kind: str
    section: type[BaseModel]
    """The registered class, with ``kind: Literal[<kind>]`` added (what the schema uses)."""
    load: DatasetLoader
    module: str


@dataclass(frozen=True)
class ImportedModule:
    """A module a config imported: its name, its file and the ``sys.path`` entry it came from."""

    module: str
    file: str
    path: str

    def to_json(self) -> dict[str, str]:
        """What ``run.json`` records under ``imports``."""
        return {"module": self.module, "file": self.file, "path": self.path}


class ImportFailure(Exception):
    """A plugin module could not be imported; the message is the one-line reason."""


_KINDS: dict[str, DatasetKind] = {}
_ENTRY_POINTS_LOADED: list[str] | None = None


def register_dataset(
    kind: str, *, config: type[BaseModel]
) -> Callable[[_Loader], _Loader]:
    """Register a loader for ``data.kind: <kind>``, validated with the pydantic ``config``.

    Example::

        class RingsData(pydantic.BaseModel):
            examples: int = 600

        @dltrain.register_dataset("rings", config=RingsData)
        def load_rings(section: RingsData, config, test_path) -> Datasets: ...

    Args:
        kind: The ``data.kind`` value (lowercase letters, digits, ``_``; not a built-in kind).
        config: The section's pydantic model; ``kind`` is added to it, unknown keys are
            errors unless the model says otherwise.

    Raises:
        ValueError: a malformed or built-in kind, or one another module already registered.
        TypeError: ``config`` is not a pydantic model class.
    """
    if not _KIND_NAME.match(kind) or kind in BUILTIN_KINDS:
        raise ValueError(
            f"dataset kind must be lowercase letters, digits and _, and not one of "
            f"{', '.join(BUILTIN_KINDS)}; received {kind!r}"
        )
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise TypeError(f"config must be a pydantic BaseModel subclass; received {config!r}")

    def register(loader: _Loader) -> _Loader:
        module = getattr(loader, "__module__", "") or ""
        previous = _KINDS.get(kind)
        if previous is not None and previous.module != module:
            raise ValueError(
                f"dataset kind {kind!r} is already registered by {previous.module}"
            )
        _KINDS[kind] = DatasetKind(kind, _with_kind(config, kind), loader, module)
        return loader

    return register


def _with_kind(config: type[BaseModel], kind: str) -> type[BaseModel]:
    """``config`` plus ``kind: Literal[kind]``, the tag of the ``data`` union."""
    namespace = {
        "__annotations__": {"kind": Literal[kind]},
        "__module__": config.__module__,
        "__doc__": config.__doc__,
        # Unknown keys are errors, as in every built-in section, unless the plugin chose.
        "model_config": ConfigDict(extra=config.model_config.get("extra") or "forbid"),
    }
    return type(config.__name__, (config,), namespace)


def dataset_kinds() -> dict[str, DatasetKind]:
    """The registered dataset kinds by name (a copy)."""
    return dict(_KINDS)


def dataset_kind(kind: str) -> DatasetKind | None:
    """The registration of ``kind``, or None for built-in and unknown kinds."""
    return _KINDS.get(kind)


# ----------------------------------------------------------------- importing modules


@contextmanager
def _on_sys_path(dirs: Sequence[Path]) -> Iterator[None]:
    """Put ``dirs`` in front of ``sys.path`` for the duration of an import only."""
    added = [str(d) for d in dirs if str(d) not in sys.path]
    sys.path[:0] = added
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def _root_of(name: str, file: Path) -> Path:
    """The ``sys.path`` entry under which module ``name`` lives at ``file``."""
    depth = name.count(".") + (2 if file.name == "__init__.py" else 1)
    return file.parents[depth - 1]


def import_plugin(name: str, search_dirs: Sequence[Path] = ()) -> ImportedModule:
    """Import module ``name``, looking in ``search_dirs`` first, then ``sys.path``.

    Raises:
        ImportFailure: not found, or the module raised while importing (one-line reason).
    """
    try:
        with _on_sys_path(search_dirs):
            module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (exc.name == name or name.startswith(exc.name + ".")):
            where = ", ".join(str(d) for d in search_dirs)
            raise ImportFailure(
                f"no module named {name!r} (looked in {where + ' and ' if where else ''}"
                "sys.path)"
            ) from None
        raise ImportFailure(f"importing {name!r} failed: {_one_line(exc)}") from None
    # The plugin's own code may raise anything while importing; sys.exit() in it is a failed
    # import too, not a request to end dltrain with its status (that "succeeded" silently).
    except (Exception, SystemExit) as exc:
        raise ImportFailure(f"importing {name!r} failed: {_one_line(exc)}") from None
    file = getattr(module, "__file__", None)
    if file is None:  # A namespace package: no file, only folders.
        folder = Path(next(iter(module.__path__)))
        return ImportedModule(name, str(folder), str(folder.parents[name.count(".")]))
    resolved = Path(file).resolve()
    return ImportedModule(name, str(resolved), str(_root_of(name, resolved)))


def _one_line(exc: BaseException) -> str:
    return first_line(exc, typed=True)


def import_plugins(names: Sequence[str], search_dirs: Sequence[Path] = ()) -> list[ImportedModule]:
    """Import every module of ``names`` (see :func:`import_plugin`).

    Raises:
        ConfigError: listing every module that failed and why.
    """
    done, failures = [], []
    for name in names:
        try:
            done.append(import_plugin(name, search_dirs))
        except ImportFailure as exc:
            failures.append(str(exc))
    if failures:
        raise ConfigError("cannot import plugin modules:\n  " + "\n  ".join(failures))
    return done


def import_paths_of(recorded: Any) -> list[Path]:
    """The folders to search when re-importing what a run's ``run.json`` says it imported."""
    paths: list[Path] = []
    for entry in recorded if isinstance(recorded, list) else []:
        path = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(path, str) and Path(path) not in paths:
            paths.append(Path(path))
    return paths


def load_entry_points() -> list[str]:
    """Load every ``dltrain.plugins`` entry point once per process; their names.

    Raises:
        ConfigError: an installed plugin failed to load (naming its package).
    """
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED is not None:
        return list(_ENTRY_POINTS_LOADED)
    loaded: list[str] = []
    # Marked as done first: a failing plugin is reported once, not on every config load.
    _ENTRY_POINTS_LOADED = loaded
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except (Exception, SystemExit) as exc:  # An installed plugin may raise anything.
            dist = entry.dist.name if entry.dist is not None else "an installed package"
            raise ConfigError(
                f"plugin {entry.name!r} ({entry.value}, from {dist}) failed to load: "
                f"{_one_line(exc)}"
            ) from None
        loaded.append(entry.name)
    return list(loaded)
