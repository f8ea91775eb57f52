"""``read_saved_config``: a run folder's ``config.yaml``, read as carefully as a user's config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dltrain.config.yaml_source import parse_yaml, read_config_text
from dltrain.errors import CheckpointError, ConfigError

__all__ = ["read_saved_config"]


def read_saved_config(run_path: Path) -> dict[str, Any] | None:
    """The mapping a run folder's ``config.yaml`` holds, or None when it has none.

    The file is dltrain's own output, but it may have been edited, truncated or replaced:
    it gets the same limits as a config a user gives (size, regular file, UTF-8, nesting).

    Raises:
        CheckpointError: the file exists but is not a readable YAML mapping.
    """
    target = run_path / "config.yaml"
    if not target.exists() and not target.is_symlink():
        return None
    try:
        data, _ = parse_yaml(read_config_text(target), str(target))
    except ConfigError as exc:
        raise CheckpointError(f"unreadable run config: {exc.render()}") from None
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{target}: unreadable run config: expected a mapping of config keys, received "
            f"{type(data).__name__}"
        )
    return data
