"""``file_sha256``: the SHA-256 of a file, read in 1 MiB chunks (checkpoints can be large)."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256"]


def file_sha256(path: Path) -> str:
    """The file's SHA-256 as hex (a teacher checkpoint in run.json, a checkpoint in export.json)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
