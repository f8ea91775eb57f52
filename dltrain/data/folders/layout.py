"""Which file is which: a folder of data files (or an index CSV) becomes a :class:`FolderPlan`.

Invariant: every file of every split is found, labelled and checked here, before anything is
decoded; problems with the files are collected and raised together in one ``DataError``.
Three layouts are read:

- split folders: ``path/train/`` [``val/`` | ``valid/`` | ``validation/``] [``test/``], each
  holding one folder per class;
- class folders: one folder per class directly under ``path/``;
- index CSV: ``data.index`` with columns ``path,label[,split]``.

With ``data.label_pattern`` labels come from file names and files may lie anywhere below the
folder (or below each split folder). Hidden files and folders are left out silently. No
TensorFlow here.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dltrain.config.data_schema import FolderData
from dltrain.data.files import check_data_file
from dltrain.data.folders.split import (
    Entry,
    _count,
    _names,
    check_classes,
    cut_splits,
    natural_key,
    shared_groups,
)
from dltrain.errors import DataError, Location, Problem

__all__ = ["Entry", "FolderPlan", "plan_folder"]

_VALIDATION_FOLDERS = ("val", "valid", "validation")
_SPLIT_VALUES = {
    "train": "train",
    "validation": "validation",
    "val": "validation",
    "valid": "validation",
    "test": "test",
    "": None,
}
_INDEX_COLUMNS = ("path", "label", "split")


@dataclass
class FolderPlan:
    """The files of each split, their classes, and what was noticed on the way."""

    layout: str
    """``split folders``, ``class folders`` or ``index CSV`` (words for summaries)."""
    splits: dict[str, list[Entry]]
    """``train``, ``test`` and, when there is one, ``validation``; each sorted by path."""
    class_names: tuple[str, ...]
    """Labels of the training split (before ``limit``), in natural order: ``"2" < "10"``."""
    warnings: list[str] = field(default_factory=list)
    """Things worth saying that do not stop a run (a class missing from a split, ...)."""

    def labels(self, split: str) -> np.ndarray:
        """Class indices (int64) of ``split``'s entries, in order."""
        index = {name: i for i, name in enumerate(self.class_names)}
        return np.asarray([index[e.label] for e in self.splits[split]], dtype=np.int64)

    def counts(self) -> dict[str, dict[str, int]]:
        """Split -> class -> number of files, every class listed (0 when absent)."""
        out: dict[str, dict[str, int]] = {}
        for split, entries in self.splits.items():
            found = Counter(e.label for e in entries)
            out[split] = {name: found[name] for name in self.class_names}
        return out


def plan_folder(data: FolderData, seed: int, extensions: frozenset[str]) -> FolderPlan:
    """Find, label and split the files ``data`` describes.

    Args:
        data: The ``data`` section (paths already absolute).
        seed: Seeds the cut of splits the layout does not give.
        extensions: Lower-case suffixes with the dot (``{".wav"}``); matched case-insensitively.

    Returns:
        The plan: entries per split, class names, warnings.

    Raises:
        DataError: every problem found, one per line (missing folder, files outside class
            folders, names the patterns do not match, bad index rows, too few groups, a
            class in validation or test that training lacks, ...).
    """
    scan = _Scan(data, extensions)
    if data.index is not None:
        layout = "index CSV"
        scan.read_index(Path(data.index))
    else:
        layout = scan.read_folder(Path(data.path or ""))
    scan.finish()
    if scan.problems:
        raise DataError(problems=scan.problems)

    splits = cut_splits(
        scan.entries,
        test=data.test,
        validation=data.validation,
        seed=seed,
        grouped=data.group_pattern is not None,
    )
    warnings = scan.warnings
    # An empty test split is news only when data.test asked for one.
    quiet = set() if data.test is not None else {"test"}
    problems = check_classes(splits, scan.where, warnings, quiet)
    if problems:
        raise DataError(problems=problems)
    warnings.extend(shared_groups(splits))
    class_names = tuple(sorted({e.label for e in splits["train"]}, key=natural_key))
    if data.limit is not None:
        splits = {name: entries[: data.limit] for name, entries in splits.items()}
    return FolderPlan(layout, splits, class_names, warnings)


class _Scan:
    """Collects entries, problems and warnings while the layout is read."""

    def __init__(self, data: FolderData, extensions: frozenset[str]) -> None:
        self.extensions = extensions
        self.label_re = re.compile(data.label_pattern) if data.label_pattern else None
        self.group_re = re.compile(data.group_pattern) if data.group_pattern else None
        self.entries: list[Entry] = []
        self.where: dict[Path, str] = {}
        """Where each entry's split was given (split folder, index line), for messages."""
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.others: list[Path] = []
        self.base = Path()
        self.looked_in = ""

    # ------------------------------------------------------------------ folders

    def read_folder(self, path: Path) -> str:
        """Read layout A or B below ``path``; returns the layout's name."""
        self.base = path
        self.looked_in = str(path)
        if not path.is_dir():
            what = "is not a folder" if path.exists() else "folder not found"
            raise DataError(
                f"{path}: {what}; expected a folder of class folders or of train/ [val/] [test/]"
            )
        if not (path / "train").is_dir():
            self._read_root(path, None, str(path))
            return "files labelled by name" if self.label_re else "class folders"
        found = [name for name in _VALIDATION_FOLDERS if (path / name).is_dir()]
        if len(found) > 1:
            both = " and ".join(f"{name}/" for name in found)
            self._problem(f"{path}: two validation folders, {both}: keep one")
        roots = {"train": path / "train", "test": path / "test"}
        if found:
            roots["validation"] = path / found[0]
        known = {"train", "test", *_VALIDATION_FOLDERS}
        left = [c.name for c in _children(path) if c.name not in known]
        if left:
            self.warnings.append(
                f"{path}: left out {_names(left)}: with a train/ folder only train/, "
                f"{'/, '.join(_VALIDATION_FOLDERS)}/ and test/ are read"
            )
        for split, root in roots.items():
            if root.is_dir():
                before = len(self.entries)
                self._read_root(root, split, str(root))
                if len(self.entries) == before and not self._has_problem_in(root):
                    self._problem(f"{root}: no {self._wanted()} files in it")
        return "split folders"

    def _read_root(self, root: Path, split: str | None, where: str) -> None:
        """Read one folder of class folders (or, with label_pattern, any files below it)."""
        if self.label_re is not None:
            for file in _walk(root, self._walk_error):
                self._add(file, None, split, where)
            return
        loose: list[Path] = []
        for child in _children(root):
            if child.is_dir():
                files = _walk(child, self._walk_error)
                found = sum(self._add(f, child.name, split, where) for f in files)
                if not found:
                    self.warnings.append(f"{child}: empty class folder (no {self._wanted()})")
            elif self._wanted_file(child):
                loose.append(child)
            else:
                self.others.append(child)
        if loose:
            self._problem(
                f"{root}: {_count(len(loose), 'file')} not in a class folder "
                f"({_names(p.name for p in loose)}): put them in one folder per class "
                "or give data.label_pattern to read labels from file names"
            )

    def _has_problem_in(self, root: Path) -> bool:
        prefix = f"{root}{os.sep}"
        return any(p.message.startswith((prefix, f"{root}:")) for p in self.problems)

    def _walk_error(self, exc: OSError) -> None:
        self._problem(f"{exc.filename}: cannot read: {exc.strerror or exc}")

    # ------------------------------------------------------------------ index

    def read_index(self, index: Path) -> None:
        """Read layout C: a CSV of ``path,label[,split]``, paths relative to its folder."""
        self.base = index.parent
        self.looked_in = str(index)
        check_data_file(index, "an index CSV file (path,label[,split])")
        try:
            text = index.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(f"{index}: not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise DataError(f"{index}: cannot read: {exc.strerror or exc}") from None
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [cell.strip().lower() for cell in next(reader)]
        except StopIteration:
            raise DataError(
                f"{index}: the file is empty; expected a header row path,label[,split]"
            ) from None
        columns = {name: header.index(name) for name in _INDEX_COLUMNS if name in header}
        needed = ["path"] if self.label_re is not None else ["path", "label"]
        missing = [name for name in needed if name not in columns]
        if missing:
            self._problem(
                f"no column {' or '.join(repr(m) for m in missing)} in the header; expected "
                f"path,label[,split] (label optional with data.label_pattern), "
                f"got {','.join(header)}",
                Location(str(index), 1),
            )
            return
        unused = [name for name in header if name not in _INDEX_COLUMNS]
        if unused:
            self.warnings.append(f"{index}:1: columns not read: {_names(unused)}")
        if self.label_re is not None and "label" in columns:
            self.warnings.append(
                f"{index}:1: the label column is not read: labels come from data.label_pattern"
            )
        seen: dict[Path, int] = {}
        for row in reader:
            if any(cell.strip() for cell in row):
                self._read_row(index, reader.line_num, row, columns, seen)

    def _read_row(
        self, index: Path, line: int, row: list[str], columns: dict[str, int], seen: dict[Path, int]
    ) -> None:
        def cell(name: str) -> str:
            at = columns.get(name)
            return row[at].strip() if at is not None and at < len(row) else ""

        where = Location(str(index), line)
        problems = len(self.problems)
        text = cell("path")
        split_text = cell("split")
        split = _SPLIT_VALUES.get(split_text.lower(), "?")
        if split == "?":
            self._problem(
                f"unknown split {split_text!r}: expected train, validation (or val, valid), "
                "test, or empty to cut it by data.validation and data.test",
                where,
            )
        if not text:
            self._problem("empty path: expected a file path, relative to the index's folder", where)
            return
        file = Path(os.path.normpath(index.parent / text))
        if file in seen:
            self._problem(f"{file} is listed twice (also line {seen[file]})", where)
        seen.setdefault(file, line)
        if not self._wanted_file(file):
            self.others.append(file)
            return
        if not file.is_file():
            what = "is a folder, expected a file" if file.is_dir() else "file not found"
            self._problem(f"{file}: {what}", where)
        label = cell("label") if self.label_re is None else None
        if label == "":
            self._problem("empty label: expected a class name (or give data.label_pattern)", where)
        if len(self.problems) == problems:
            self._add(file, label, split, str(where), where)

    # ------------------------------------------------------------------ both

    def _add(
        self,
        file: Path,
        label: str | None,
        split: str | None,
        where: str,
        location: Location | None = None,
    ) -> bool:
        """Label and keep ``file`` if its extension is wanted; True when it is."""
        if not self._wanted_file(file):
            self.others.append(file)
            return False
        group = None
        ok = True
        if self.label_re is not None:
            label = self._match(file, self.label_re, "label_pattern", location)
            ok = label is not None
        if self.group_re is not None:
            group = self._match(file, self.group_re, "group_pattern", location)
            ok = ok and group is not None
        if ok and label is not None:
            self.entries.append(Entry(file, label, split, group))
            self.where[file] = where
        return True

    def _match(
        self, file: Path, pattern: re.Pattern[str], key: str, location: Location | None
    ) -> str | None:
        found = pattern.search(file.name)
        value = found.group(1) if found else None
        if not value:
            what = "does not match" if found is None else "matches, but its group 1 is empty:"
            self._problem(f"{file}: the file name {what} data.{key} {pattern.pattern!r}", location)
        return value or None

    def _wanted_file(self, file: Path) -> bool:
        return file.suffix.lower() in self.extensions

    def _wanted(self) -> str:
        return "/".join(sorted(self.extensions))

    def _problem(self, message: str, location: Location | None = None) -> None:
        self.problems.append(Problem(message, location=location))

    def finish(self) -> None:
        """Warn about files of other types; a layout that found nothing is a problem."""
        if self.others:
            shown = _names(_short(p, self.base) for p in sorted(self.others))
            self.warnings.append(
                f"left out {_count(len(self.others), 'file')} with other extensions (read: "
                f"{self._wanted()}, any case): {shown}"
            )
        if not self.entries and not self.problems:
            self._problem(f"{self.looked_in}: no files ending in {self._wanted()} (any case) found")


def _children(folder: Path) -> list[Path]:
    """Visible entries of ``folder``, sorted."""
    return sorted(c for c in folder.iterdir() if not c.name.startswith("."))


def _walk(root: Path, onerror: Callable[[OSError], None]) -> Iterator[Path]:
    """Every visible file below ``root``, sorted; hidden folders are not entered."""
    for folder, dirs, files in os.walk(root, onerror=onerror):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder, name)


def _short(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
