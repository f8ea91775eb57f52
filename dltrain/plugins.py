"""Users' own components: importing plugin modules, the dataset-kind registry, entry points.

A config's ``imports: [my_project.layers, ...]`` names modules that register things when they
are imported: Keras objects through ``@keras.saving.register_keras_serializable`` (then usable
by name anywhere a config names a Keras object) and dataset kinds through
:func:`register_dataset`. Installed packages register the same way through the entry-point
group ``dltrain.plugins``, loaded once per process.

This module imports neither TensorFlow nor Keras; plugin modules may.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from dltrain.errors import ConfigError, UsageError, first_line

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
    "code_digest",
    "dataset_kind",
    "dataset_kinds",
    "import_plugin",
    "import_plugins",
    "import_saved_plugins",
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
    """A module a config imported: its name, its file, the ``sys.path`` entry it came from and
    the SHA-256 of its code (see :func:`code_digest`; None when it has no source files)."""

    module: str
    file: str
    path: str
    sha256: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """What ``run.json`` records under ``imports``."""
        return {"module": self.module, "file": self.file, "path": self.path, "sha256": self.sha256}


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
        root = folder.parents[name.count(".")]
        return ImportedModule(name, str(folder), str(root), _root_digest(name, [root]))
    resolved = Path(file).resolve()
    root = _root_of(name, resolved)
    return ImportedModule(name, str(resolved), str(root), _root_digest(name, [root]))


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


def code_digest(location: Path) -> str:
    """The SHA-256 of a plugin's code: a module's file, or every ``.py`` file of a package.

    A package is hashed whole (relative names and contents, in sorted order), because
    importing ``pkg.sub`` runs ``pkg/__init__.py`` too, and a submodule changed behind an
    unchanged ``__init__.py`` is a different plugin.
    """
    digest = hashlib.sha256()
    if location.is_dir():
        for file in sorted(location.rglob("*.py")):
            if "__pycache__" in file.parts:
                continue
            digest.update(file.relative_to(location).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        return digest.hexdigest()
    digest.update(location.read_bytes())
    return digest.hexdigest()


def _top_level_code(name: str, dirs: Sequence[Path]) -> Path | None:
    """Where the top-level module of ``name`` lives under ``dirs``: a file or a package folder.

    Found with :class:`importlib.machinery.PathFinder`, which reads folders and runs nothing.
    """
    top = name.split(".")[0]
    spec = importlib.machinery.PathFinder.find_spec(top, [str(d) for d in dirs])
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return Path(spec.origin).resolve() if spec.origin else None


def _root_digest(name: str, dirs: Sequence[Path]) -> str | None:
    location = _top_level_code(name, dirs)
    try:
        return None if location is None else code_digest(location)
    except OSError:
        return None


def _provided_here(name: str, run_dir: Path) -> bool:
    """Whether the environment imports ``name`` without help, from outside ``run_dir``.

    Looks the top-level name up as ``import`` would (``sys.meta_path``: installed and editable
    packages, ``PYTHONPATH``), which runs no plugin code. A module found inside the run folder
    (``python -m dltrain`` started there puts it on ``sys.path``) is the sender's, not the
    user's.
    """
    top = name.split(".")[0]
    module = sys.modules.get(top)
    try:
        spec = module.__spec__ if module is not None else importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    places = [spec.origin] if spec.origin and spec.has_location else []
    places += list(spec.submodule_search_locations or [])
    inside = run_dir.resolve()
    return not any(Path(p).resolve().is_relative_to(inside) for p in places)


def import_saved_plugins(names: Any, recorded: Any, run_dir: Path, *, trust: bool) -> None:
    """Import a saved run's plugin modules, running none that the user did not agree to.

    A run folder may come from someone else, and its ``run.json`` says where its plugins were
    imported from: importing from there would run the sender's code (docs/extending.md, "Trust
    and received run folders"). So a module is imported only when the environment provides it
    (installed, or on ``PYTHONPATH``; then without the recorded folder, which could shadow it),
    or, with ``trust`` (``--trust-imports``), from the recorded folder after checking that its
    code has the SHA-256 that ``run.json`` recorded. An old ``run.json`` without a hash needs
    ``trust`` and is imported unchecked.

    Raises:
        UsageError: a module that needs consent, or whose code is not the one recorded, or
            that fails to import; naming it, the recorded place and how to consent.
    """
    entries = {
        entry.get("module"): entry
        for entry in (recorded if isinstance(recorded, list) else [])
        if isinstance(entry, dict)
    }
    for index, name in enumerate(names if isinstance(names, list) else []):
        if not isinstance(name, str):
            continue  # malformed: the config's validation says so
        where = f"{run_dir / 'config.yaml'}: imports[{index}]"
        entry = entries.get(name) or {}
        if _provided_here(name, run_dir):
            dirs: list[Path] = []
        else:
            dirs = _consented_dirs(name, entry, where, trust)
        try:
            import_plugin(name, dirs)
        except ImportFailure as exc:
            raise UsageError(f"{where}: {exc}") from None


def _consented_dirs(name: str, entry: dict[str, Any], where: str, trust: bool) -> list[Path]:
    """The recorded folder of ``name``, once the user agreed and its code is the recorded one."""
    path, file, sha = entry.get("path"), entry.get("file"), entry.get("sha256")
    recorded = f"{file or path or 'nowhere'}" + (f", sha256 {sha[:12]}..." if sha else "")
    if not trust:
        raise UsageError(
            f"{where}: {name!r} is not installed here; the run imported it from {recorded} "
            "(run.json). Importing it runs that code: if you trust where this run folder came "
            "from, give --trust-imports; or install the module, or put its folder on PYTHONPATH"
        )
    if not isinstance(path, str):
        raise UsageError(f"{where}: no module named {name!r} (run.json records no folder for it)")
    dirs = [Path(path)]
    location = _top_level_code(name, dirs)
    if location is None:
        raise UsageError(f"{where}: no module named {name!r} in {path} (the folder run.json names)")
    if isinstance(sha, str):
        actual = code_digest(location)
        if actual != sha:
            raise UsageError(
                f"{where}: {location} is not the code the run imported (its sha256 is "
                f"{actual[:12]}..., run.json recorded {sha[:12]}...); not importing it, even "
                "with --trust-imports"
            )
    return dirs


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
