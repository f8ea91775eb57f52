"""The files ``dltrain predict`` reads for a folder kind: one file, a folder, or an index CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from dltrain.errors import DataError

__all__ = ["listed_files"]


def listed_files(path: Path, extensions: frozenset[str], what: str) -> list[Path]:
    """``path`` itself, every file with one of ``extensions`` below it (sorted, hidden files
    and folders left out), or the files in the ``path`` column of an index CSV (relative to
    the CSV's folder).

    Raises:
        DataError: ``path`` missing, a folder without such files, or an index CSV without a
            ``path`` column or naming missing files (every one listed).
    """
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in extensions
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not found:
            kinds = ", ".join(sorted(extensions))
            raise DataError(f"{path}: no {what} file ({kinds}) in this folder or below it")
        return found
    if path.suffix.lower() == ".csv":
        return _index(path)
    return [path]


def _index(path: Path) -> list[Path]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise DataError(
                f"{path}:1: an index CSV needs a `path` column; received columns "
                f"{', '.join(reader.fieldnames or []) or 'none'}"
            )
        rows = [(reader.line_num, row.get("path") or "") for row in reader]
    files, problems = [], []
    for line, name in rows:
        file = (path.parent / name).resolve() if name else None
        if file is None or not file.is_file():
            problems.append(
                f"  {path}:{line}: {'no such file ' + repr(name) if name else 'empty path'}"
            )
        else:
            files.append(file)
    if problems:
        raise DataError(f"{len(problems)} row(s) of {path} name no file:\n" + "\n".join(problems))
    if not files:
        raise DataError(f"{path}: the index CSV lists no file")
    return files
