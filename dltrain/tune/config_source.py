"""The experiment a study varies: its file (or mapping) and ``--set`` overrides, reloadable
with more overrides so that a trial's values apply exactly as ``--set`` would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dltrain.config import LoadedConfig, config_from_dict, load_config
from dltrain.errors import UsageError

__all__ = ["ConfigSource"]


@dataclass(frozen=True)
class ConfigSource:
    """A config file or mapping plus the user's overrides."""

    config: Path | dict[str, Any]
    overrides: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, config: Any, overrides: Sequence[str]) -> ConfigSource:
        """From what the API takes: a path (str or Path) or a mapping.

        Raises:
            UsageError: anything else.
        """
        if isinstance(config, str | Path):
            return cls(Path(config), list(overrides))
        if isinstance(config, dict):
            return cls(config, list(overrides))
        raise UsageError(f"config must be a path or a mapping; received {type(config).__name__}")

    def load(self, extra: Sequence[str] = ()) -> LoadedConfig:
        """The config with the user's overrides, then ``extra``; located errors.

        Raises:
            ConfigError: as :func:`dltrain.config.load_config`.
        """
        overrides = [*self.overrides, *extra]
        if isinstance(self.config, Path):
            return load_config(self.config, overrides)
        return config_from_dict(self.config, overrides)

    def variant(self, extra: Sequence[str], name: str | None = None) -> LoadedConfig:
        """A trial's experiment: ``extra`` applied, no ``tune`` section, renamed to ``name``."""
        loaded = self.load(extra)
        loaded.config.tune = None
        if name is not None:
            loaded.config.name = name
        return loaded
