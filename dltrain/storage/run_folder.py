"""The run folder: ``runs/<name>/<UTC timestamp>[-k]/``, never overwritten, written atomically."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dltrain.errors import CheckpointError, RunFolderError
from dltrain.storage.atomic import atomic_write_text
from dltrain.storage.lock import RunLock
from dltrain.storage.manifest import MANIFEST, SCHEMA_VERSION, RunManifest, read_manifest

__all__ = ["RunFolder", "leftovers", "utc_now"]

_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(timezone.utc)


@dataclass
class RunFolder:
    """One run's folder and its manifest."""

    path: Path
    manifest: RunManifest
    lock: RunLock | None = field(default=None, repr=False, compare=False)
    removed: list[Path] = field(default_factory=list, repr=False, compare=False)
    """Temporary files a killed writer had left, removed when the lock was taken."""

    # ------------------------------------------------------------------ creation
    @staticmethod
    def check_root(root: Path) -> None:
        """Fail early (before data or models are loaded) when ``root`` cannot hold runs.

        Raises:
            RunFolderError: ``root`` cannot be created or written.
        """
        # Folders made only for the probe are removed again: a start that fails later (data not
        # found, bad model) must not leave an empty runs/ behind; RunFolder.create makes them.
        made = [p for p in (root, *root.parents) if not p.exists()]
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".write-test-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink()
            for folder in made:
                try:
                    folder.rmdir()
                except OSError:  # another run started and wrote into it: keep it
                    break
        except OSError as exc:
            loop = _symlink_loop(root)
            if loop is not None:
                raise RunFolderError(
                    f"{root}: the runs folder is a symlink loop ({loop} leads back to itself); "
                    "choose another with --runs-dir"
                ) from exc
            raise RunFolderError(
                f"{root}: the runs folder is not writable ({exc.strerror}); "
                "choose another with --runs-dir"
            ) from exc

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
        folder = cls(path, RunManifest(schema_version=SCHEMA_VERSION, status="created"))
        try:
            folder.take_lock()
            folder.save_manifest()
        except OSError as exc:
            folder.release()
            shutil.rmtree(path, ignore_errors=True)  # nothing half-made is left behind
            raise RunFolderError(f"{path}: cannot write the run folder ({exc.strerror})") from exc
        return folder

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Open an existing run folder and read its manifest.

        Raises:
            CheckpointError: not a run folder, or its ``run.json`` is missing or unreadable.
            RunFolderError: a subfolder it writes into is a link that leaves it.
        """
        if not path.is_dir():
            raise CheckpointError(f"{path}: no such run folder")
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise CheckpointError(f"{path}: not a run folder (no {MANIFEST})")
        _refuse_links_out(path)
        return cls(path, read_manifest(manifest_path))

    # ------------------------------------------------------------------- locking
    def take_lock(self) -> None:
        """Become the run's only writer, and clear what a killed writer left behind.

        Raises:
            RunFolderError: another live process writes this run.
        """
        if self.lock is None:
            self.lock = RunLock(self.path).acquire()
            self.removed = _remove_leftovers(self.path)

    def release(self) -> None:
        """Stop being the writer (also happens when the process ends, however it ends)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # -------------------------------------------------------------------- places
    @property
    def checkpoints(self) -> Path:
        """``checkpoints/`` (created on first use)."""
        return self._dir("checkpoints")

    @property
    def plots(self) -> Path:
        """``plots/`` (created on first use)."""
        return self._dir("plots")

    @property
    def logs(self) -> Path:
        """``logs/`` (created on first use): TensorFlow's and Python's warnings."""
        return self._dir("logs")

    def _dir(self, name: str) -> Path:
        folder = self.path / name
        folder.mkdir(exist_ok=True)
        return folder

    # ------------------------------------------------------------------- writing
    def update(self, **fields: Any) -> None:
        """Set manifest ``fields`` (validated) and write ``run.json``."""
        self.manifest = self.manifest.updated(**fields)
        self.save_manifest()

    def save_manifest(self) -> None:
        """Write ``run.json`` atomically."""
        self.write_text(MANIFEST, self.manifest.to_json())

    def write_text(self, relative: str, text: str) -> Path:
        """Atomically write a text file inside the run folder."""
        return atomic_write_text(self.path / relative, text)

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

    # ------------------------------------------------------------------- reading
    def read_json(self, relative: str) -> Any:
        """Read a JSON file of the run (CheckpointError if unreadable)."""
        target = self.path / relative
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{target}: unreadable ({exc})") from exc

    def read_text(self, relative: str) -> str | None:
        """A text file of the run, or None when it does not exist.

        Raises:
            CheckpointError: it exists but cannot be read as UTF-8.
        """
        target = self.path / relative
        if not target.is_file():
            return None
        try:
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{target}: unreadable ({exc})") from exc

    def read_metrics(self) -> list[dict[str, str]]:
        """Rows of ``metrics.csv`` (empty when there is none yet).

        Raises:
            CheckpointError: the file is not UTF-8 CSV.
        """
        text = self.read_text("metrics.csv")
        if text is None:
            return []
        try:
            return list(csv.DictReader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise CheckpointError(f"{self.path / 'metrics.csv'}: unreadable ({exc})") from exc

    def metric_rows(self, up_to_epoch: int) -> list[dict[str, float]]:
        """``metrics.csv`` as numbers, epochs ``1..up_to_epoch`` (what a resume continues).

        Raises:
            CheckpointError: a cell is not a number.
        """
        rows: list[dict[str, float]] = []
        for number, row in enumerate(self.read_metrics(), start=2):
            try:
                parsed = {
                    k: (int(float(v)) if k == "epoch" else float(v))
                    for k, v in row.items()
                    if k is not None and v not in ("", None)
                }
            except (TypeError, ValueError) as exc:
                raise CheckpointError(
                    f"{self.path / 'metrics.csv'}:{number}: not a number ({exc})"
                ) from exc
            if parsed.get("epoch", 0) <= up_to_epoch:
                rows.append(parsed)
        return rows


SUBFOLDERS = ("checkpoints", "plots", "logs", "export")
"""The folders a run's commands write into (``--resume``, ``export``, the CLI's logs)."""


def _refuse_links_out(run_dir: Path) -> None:
    """Refuse a subfolder that is a symlink out of the run folder, before anything is written.

    A received or tampered folder could otherwise make ``--resume`` or ``export`` overwrite
    files elsewhere (``plots -> ~/work`` and ``loss.png`` is replaced). A link that stays
    inside the run folder is harmless and allowed.
    """
    inside = run_dir.resolve()
    for name in SUBFOLDERS:
        sub = run_dir / name
        if not sub.is_symlink():
            continue
        try:
            target = sub.resolve()
        except (OSError, RuntimeError):  # a loop: it leads nowhere inside either
            target = sub
        if target == sub or (target != inside and inside not in target.parents):
            raise RunFolderError(
                f"{sub}: a symlink to {target}, outside the run folder; expected a folder "
                "inside it (dltrain does not write through it). Replace the link with a "
                "folder (or a copy of what it points to)"
            )


def _symlink_loop(path: Path) -> Path | None:
    """The symbolic link in ``path`` (or its parents) that never resolves, if any: ``mkdir``
    says "File exists" for such a link, which points nowhere near the cause."""
    for link in (path, *path.parents):
        if not link.is_symlink():
            continue
        try:
            link.resolve(strict=True)
        except RuntimeError:  # Python before 3.13 reports a loop so
            return link
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return link
    return None


def _remove_leftovers(run_dir: Path) -> list[Path]:
    """Remove the :func:`leftovers` of a writer that was killed mid-write.

    Only the lock holder calls this, so nothing here is being written by anyone else.
    """
    found = leftovers(run_dir)
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return found


def leftovers(run_dir: Path) -> list[Path]:
    """Temporary files and resume-point folders a writer killed mid-write left behind.

    While the run's lock is held they are being written; once it is free, nobody will.
    """
    found: list[Path] = []
    for folder in (run_dir, run_dir / "checkpoints", run_dir / "plots"):
        if folder.is_dir():
            found += [p for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]
    resume = run_dir / "checkpoints" / "resume"
    if resume.is_dir():
        found += [p for p in resume.iterdir() if p.name.startswith(".tmp-")]
    return found
