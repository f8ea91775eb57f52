"""Finding a saved model and the config of the run it belongs to (for eval and predict)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from dltrain.config import LoadedConfig, config_from_dict
from dltrain.errors import CheckpointError, ConfigError, UsageError
from dltrain.plugins import import_paths_of
from dltrain.storage import RunFolder

__all__ = ["SavedRun", "open_saved_run"]


@dataclass
class SavedRun:
    """A run folder, its resolved config, and the checkpoint chosen in it."""

    run: RunFolder
    loaded: LoadedConfig
    checkpoint: Path


def open_saved_run(target: Path, checkpoint: str = "best") -> SavedRun:
    """Resolve ``RUN_OR_CHECKPOINT``: a run folder, or a ``.keras`` file inside one.

    Raises:
        CheckpointError: no such run/checkpoint, or an unreadable run folder.
        UsageError: ``checkpoint`` is not ``best`` or ``last``.
    """
    if checkpoint not in ("best", "last"):
        raise UsageError(f"--checkpoint must be 'best' or 'last'; received {checkpoint!r}")
    if target.is_file():
        if target.suffix != ".keras":
            raise CheckpointError(f"{target}: not a .keras checkpoint or a run folder")
        folder = target.parent.parent if target.parent.name == "checkpoints" else target.parent
        if not (folder / "run.json").is_file():
            raise CheckpointError(
                f"{target}: not inside a run folder, so its data config is unknown; "
                "give the run folder that holds it"
            )
        run = RunFolder.open(folder)
        model_path = target
    else:
        run = RunFolder.open(target)
        model_path = run.path / "checkpoints" / f"{checkpoint}.keras"
        if not model_path.is_file():
            raise CheckpointError(
                f"{run.path}: no checkpoints/{checkpoint}.keras (status: "
                f"{run.manifest.status}); no epoch finished, or try --checkpoint last"
            )
    config_file = run.path / "config.yaml"
    try:
        data = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{config_file}: unreadable run config ({exc})") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{config_file}: not a config mapping")
    try:
        # Plugins (`imports`) are found again where the run found them.
        loaded = config_from_dict(data, import_paths=import_paths_of(run.manifest.imports))
    except ConfigError as exc:
        raise CheckpointError(
            f"{config_file}: the saved config is invalid:\n{exc.render()}"
        ) from exc
    return SavedRun(run, loaded, model_path)
