"""A run folder's files as a report page reads them: every piece optional, nothing raises.

The page is built from the folder alone (old runs, copied runs, trials, runs by earlier
versions), so each reader returns what it could read and says what it could not; the
``problems`` list ends up on the page instead of in an error.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dltrain.errors import CheckpointError, UsageError, first_line
from dltrain.report.listing import as_number as to_float
from dltrain.storage import MANIFEST
from dltrain.storage.manifest import RunManifest, read_manifest

__all__ = ["RunData", "read_run", "to_float"]


@dataclass
class RunData:
    """What a run folder holds, read once; ``None`` or empty where a file is missing."""

    path: Path
    manifest: RunManifest
    raw_manifest: dict[str, Any]
    config_text: str | None
    config: dict[str, Any]
    metrics: list[dict[str, str]]
    model_text: str | None
    data_spec: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    """Files that exist but could not be read, for the page to show."""

    @property
    def name(self) -> str:
        """The run's name (its manifest's, else its folder's)."""
        return self.manifest.name or self.path.parent.name

    def csv_rows(self, relative: str) -> list[dict[str, str]] | None:
        """A CSV file's rows by header, None when it is missing (or unreadable: a problem)."""
        text = _text(self.path / relative, self.problems)
        if text is None:
            return None
        try:
            return _csv_rows(text)
        except csv.Error as exc:
            self.problems.append(f"{self.path / relative}: not CSV ({exc})")
            return None

    def json_files(self, pattern: str) -> list[tuple[Path, dict[str, Any]]]:
        """JSON objects of the files matching ``pattern`` (relative glob), sorted by name."""
        found: list[tuple[Path, dict[str, Any]]] = []
        for path in sorted(self.path.glob(pattern)):
            document = _json(path, self.problems)
            if isinstance(document, dict):
                found.append((path, document))
        return found


def read_run(path: Path) -> RunData:
    """Read a run folder for its page.

    Raises:
        UsageError: ``path`` is not a folder holding ``run.json``.
    """
    manifest_path = path / MANIFEST
    if not path.is_dir():
        raise UsageError(f"{path}: no such run folder")
    if not manifest_path.is_file():
        raise UsageError(f"{path}: not a run folder or a study folder (no {MANIFEST})")
    problems: list[str] = []
    raw = _json(manifest_path, problems)
    try:
        manifest = read_manifest(manifest_path)
    except CheckpointError as exc:
        problems.append(exc.message)
        manifest = RunManifest(status="failed", error=f"run.json unreadable: {exc.message}")
    config_text = _text(path / "config.yaml", problems)
    config: Any = None
    if config_text is not None:
        try:
            config = yaml.safe_load(config_text)
        except yaml.YAMLError as exc:
            problems.append(f"{path / 'config.yaml'}: not YAML ({first_line(exc)})")
    metrics_text = _text(path / "metrics.csv", problems)
    metrics: list[dict[str, str]] = []
    if metrics_text:
        try:
            metrics = _csv_rows(metrics_text)
        except csv.Error as exc:
            problems.append(f"{path / 'metrics.csv'}: not CSV ({exc})")
    spec = _json(path / "data_spec.json", problems) if (path / "data_spec.json").exists() else None
    return RunData(
        path=path,
        manifest=manifest,
        raw_manifest=raw if isinstance(raw, dict) else {},
        config_text=config_text,
        config=config if isinstance(config, dict) else {},
        metrics=metrics,
        model_text=_text(path / "model.txt", problems),
        data_spec=spec if isinstance(spec, dict) else {},
        problems=problems,
    )


def _csv_rows(text: str) -> list[dict[str, str]]:
    return [
        {k: v for k, v in row.items() if k is not None}
        for row in csv.DictReader(io.StringIO(text, newline=""))
    ]


def _text(path: Path, problems: list[str]) -> str | None:
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: unreadable ({exc})")
        return None


def _json(path: Path, problems: list[str]) -> Any:
    text = _text(path, problems)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        problems.append(f"{path}: not JSON ({first_line(exc)})")
        return None
