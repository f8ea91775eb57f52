"""The run folder: ``runs/<name>/<UTC timestamp>[-k]/``, never overwritten, written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dltrain.errors import CheckpointError, RunFolderError

__all__ = ["RunFolder", "atomic_write_bytes", "atomic_write_text", "utc_now"]

MANIFEST = "run.json"
_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(timezone.utc)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename.

    A crash leaves either the old file or the new one, never half of one. The file gets the
    permissions of any new file (0666 less the umask: 0644 under umask 022), not the 0600
    that ``tempfile.mkstemp`` would give it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # os.open with mode 0o666 lets the kernel apply the umask, without reading or changing
    # the process-wide umask; O_EXCL and a random name keep the temp file private to us.
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - a 48-bit name collision
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic UTF-8 text write (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@dataclass
class RunFolder:
    """One run's folder and its manifest."""

    path: Path
    manifest: dict[str, Any]

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        runs_dir: Path,
        name: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> RunFolder:
        """Make a new, unique run folder and check that it is writable.

        ``os.mkdir`` is atomic, so two processes started in the same second get different
        folders (``<ts>`` and ``<ts>-1``).

        Raises:
            RunFolderError: the runs directory cannot be created or written.
        """
        parent = runs_dir / name
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(
                f"{parent}: cannot create the runs folder ({exc.strerror}); "
                "choose another with --runs-dir"
            ) from exc
        stamp = clock().strftime(_TIMESTAMP)
        for k in range(10_000):
            path = parent / (stamp if k == 0 else f"{stamp}-{k}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
            except OSError as exc:
                raise RunFolderError(
                    f"{parent}: cannot create a run folder ({exc.strerror}); "
                    "choose another with --runs-dir"
                ) from exc
        else:  # pragma: no cover - ten thousand runs in one second
            raise RunFolderError(f"{parent}: too many runs started at {stamp}")
        folder = cls(path, {"status": "created"})
        try:
            folder.save_manifest()
        except OSError as exc:
            raise RunFolderError(f"{path}: cannot write the run folder ({exc.strerror})") from exc
        return folder

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Open an existing run folder and read its manifest.

        Raises:
            CheckpointError: not a run folder, or its ``run.json`` is missing or unreadable.
        """
        if not path.is_dir():
            raise CheckpointError(f"{path}: no such run folder")
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise CheckpointError(f"{path}: not a run folder (no {MANIFEST})")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{manifest_path}: unreadable manifest ({exc})") from exc
        if not isinstance(manifest, dict) or "status" not in manifest:
            raise CheckpointError(f"{manifest_path}: not a dltrain manifest (no 'status')")
        return cls(path, manifest)

    # -------------------------------------------------------------------- places
    @property
    def checkpoints(self) -> Path:
        """``checkpoints/`` (created on first use)."""
        return self._dir("checkpoints")

    @property
    def plots(self) -> Path:
        """``plots/`` (created on first use)."""
        return self._dir("plots")

    def _dir(self, name: str) -> Path:
        folder = self.path / name
        folder.mkdir(exist_ok=True)
        return folder

    # ------------------------------------------------------------------- writing
    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into the manifest and write ``run.json``."""
        self.manifest.update(fields)
        self.save_manifest()

    def save_manifest(self) -> None:
        """Write ``run.json`` atomically."""
        self.write_json(MANIFEST, self.manifest)

    def write_text(self, relative: str, text: str) -> Path:
        """Atomically write a text file inside the run folder."""
        target = self.path / relative
        atomic_write_text(target, text)
        return target

    def write_json(self, relative: str, data: Any) -> Path:
        """Atomically write JSON inside the run folder."""
        return self.write_text(relative, json.dumps(data, indent=2, default=str) + "\n")

    def write_csv(self, relative: str, rows: Iterable[dict[str, Any]], columns: list[str]) -> Path:
        """Atomically write a CSV with the given column order."""
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
        return self.write_text(relative, buffer.getvalue())

    def read_json(self, relative: str) -> Any:
        """Read a JSON file of the run (CheckpointError if unreadable)."""
        target = self.path / relative
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{target}: unreadable ({exc})") from exc

    def read_metrics(self) -> list[dict[str, str]]:
        """Rows of ``metrics.csv`` (empty when there is none yet)."""
        target = self.path / "metrics.csv"
        if not target.is_file():
            return []
        with target.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
