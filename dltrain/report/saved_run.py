"""Finding a saved model and the config of the run it belongs to (for eval and predict)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dltrain.config import LoadedConfig, config_from_dict
from dltrain.config.saved import read_saved_config
from dltrain.errors import CheckpointError, ConfigError, UsageError
from dltrain.plugins import import_saved_plugins
from dltrain.storage import RunFolder

__all__ = ["ACCEPTED", "SavedRun", "open_saved_run"]


@dataclass
class SavedRun:
    """A run folder, its resolved config, and the checkpoint chosen in it."""

    run: RunFolder
    loaded: LoadedConfig
    checkpoint: Path
    note: str | None = None
    """Said to the user when the run was chosen for them (the latest in ``runs/NAME``)."""


ACCEPTED = (
    "a run folder (runs/NAME/STAMP), a name's folder (runs/NAME: its latest run), or a "
    ".keras checkpoint inside a run folder (runs/NAME/STAMP/checkpoints/best.keras)"
)
"""What ``eval`` and ``predict`` accept, in the words their help and errors use."""


def open_saved_run(
    target: Path, checkpoint: str = "best", *, trust_imports: bool = False
) -> SavedRun:
    """Resolve ``RUN_OR_CHECKPOINT``: a run folder, ``runs/NAME`` (its latest run), or a
    ``.keras`` file inside a run folder.

    A ``.keras`` file alone is not enough: the run's ``config.yaml`` and ``data_spec.json``
    say how to read data for it (columns, scaling, class names, fill values).
    ``trust_imports`` lets the run's plugins be imported from where it recorded them (see
    :func:`~dltrain.plugins.import_saved_plugins`).

    Raises:
        CheckpointError: no such run/checkpoint, or an unreadable run folder.
        UsageError: ``checkpoint`` is not ``best`` or ``last``; a plugin that needs
            ``trust_imports``, or whose code is not the one the run recorded.
    """
    if checkpoint not in ("best", "last"):
        raise UsageError(f"--checkpoint must be 'best' or 'last'; received {checkpoint!r}")
    note = None
    if target.is_file():
        if target.suffix != ".keras":
            raise CheckpointError(f"{target}: not a .keras checkpoint; give {ACCEPTED}")
        folder = target.parent.parent if target.parent.name == "checkpoints" else target.parent
        if not (folder / "run.json").is_file():
            raise CheckpointError(
                f"{target}: this .keras file is not inside a run folder (no run.json in "
                f"{folder}), so how to read data for it is unknown: the run's config.yaml and "
                f"data_spec.json hold the columns, scaling, class names and fill values. "
                f"Give {ACCEPTED}"
            )
        run = RunFolder.open(folder)
        model_path = target
    else:
        if target.is_dir() and not (target / "run.json").exists():
            from dltrain.report.listing import latest_run

            latest = latest_run(target)
            if latest is not None:
                note = f"using the latest run in {target}: {latest}"
                target = latest
        run = RunFolder.open(target)
        model_path = run.path / "checkpoints" / f"{checkpoint}.keras"
        if not model_path.is_file():
            raise CheckpointError(
                f"{run.path}: no checkpoints/{checkpoint}.keras (status: "
                f"{run.manifest.status}); no epoch finished, or try --checkpoint last"
            )
    config_file = run.path / "config.yaml"
    data = read_saved_config(run.path)
    if data is None:
        raise CheckpointError(f"{run.path}: no config.yaml, so how to read data for it is unknown")
    # Before anything else runs the saved `imports`: a received folder's own code needs consent.
    import_saved_plugins(
        data.get("imports"), run.manifest.imports, run.path, trust=trust_imports
    )
    try:
        loaded = config_from_dict(data)
    except ConfigError as exc:
        raise CheckpointError(
            f"{config_file}: the saved config is invalid:\n{exc.render()}"
        ) from exc
    return SavedRun(run, loaded, model_path, note)
