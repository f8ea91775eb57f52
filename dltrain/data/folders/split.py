"""Cutting folder data into train, validation and test: seeded, per class or by whole groups.

Invariant: the same entries, fractions and seed give the same splits whatever order the
filesystem listed the files in, because everything is sorted before the generator draws.
No TensorFlow here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dltrain.errors import DataError, Problem

__all__ = ["Entry", "check_classes", "cut_splits", "natural_key", "shared_groups"]

_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Entry:
    """One data file and what the layout says about it."""

    path: Path
    """Absolute file path."""
    label: str
    """Class name."""
    split: str | None
    """``train``, ``validation`` or ``test`` as the layout gives it; None: to be cut. A
    ``train`` file may still be cut into validation or test when the layout gives none."""
    group: str | None
    """``group_pattern``'s group 1, or None."""


def natural_key(text: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders digit runs by value: ``"2" < "10"``, ``"img9" < "img10"``."""
    # re.split with a group alternates text and digit runs, so equal positions hold equal
    # types and tuples compare without a TypeError; the text itself breaks ties ("01", "1").
    parts = _DIGITS.split(text)
    return tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), text


def cut_splits(
    entries: Sequence[Entry],
    *,
    test: float | None,
    validation: float | None,
    seed: int,
    grouped: bool,
) -> dict[str, list[Entry]]:
    """Put every entry in ``train``, ``test`` and (when there is one) ``validation``.

    Entries the layout puts in validation or test stay there. The others (``train`` or None)
    form the pool: a split the layout does not give is cut from it by its fraction, test
    first from the whole pool, then validation from the rest.

    Args:
        entries: The files found, each with its label, given split and group.
        test: Share of the pool held out as test when no entry is given as test.
        validation: Share of the rest held out as validation when none is given.
        seed: Seeds ``numpy.random.default_rng``.
        grouped: Cut whole groups (``Entry.group``) instead of files per class.

    Returns:
        Split name -> entries sorted by path; ``validation`` only when given or cut.

    Raises:
        DataError: ``grouped`` and too few groups for one per cut split plus one to train.
    """
    given: dict[str, list[Entry]] = defaultdict(list)
    pool: list[Entry] = []
    for entry in entries:
        if entry.split in ("validation", "test"):
            given[entry.split].append(entry)
        else:
            pool.append(entry)
    cuts = [
        (name, fraction)
        for name, fraction in (("test", test), ("validation", validation))
        if fraction is not None and name not in given
    ]
    pool.sort(key=lambda e: e.path)
    rng = np.random.default_rng(seed)
    cut = _cut_groups(pool, cuts, rng) if grouped else _cut_per_class(pool, cuts, rng)
    splits = {"train": cut["train"], "test": given["test"] or cut.get("test", [])}
    if "validation" in given or validation is not None:
        splits["validation"] = given["validation"] or cut.get("validation", [])
    return {name: sorted(files, key=lambda e: e.path) for name, files in splits.items()}


def _cut_per_class(
    pool: list[Entry], cuts: list[tuple[str, float]], rng: np.random.Generator
) -> dict[str, list[Entry]]:
    """Stratified cut: each class gives round(count x fraction) files to each cut split.

    A class with two files or more gives at least one and keeps at least one for training,
    so a cut never removes a class from training.
    """
    by_class: dict[str, list[Entry]] = defaultdict(list)
    for entry in pool:
        by_class[entry.label].append(entry)
    out: dict[str, list[Entry]] = {name: [] for name, _ in cuts}
    out["train"] = []
    for label in sorted(by_class, key=natural_key):
        files = by_class[label]
        files = [files[i] for i in rng.permutation(len(files))]
        for name, fraction in cuts:
            count = len(files)
            take = min(max(round(count * fraction), 1), count - 1) if count >= 2 else 0
            out[name].extend(files[:take])
            files = files[take:]
        out["train"].extend(files)
    return out


def _cut_groups(
    pool: list[Entry], cuts: list[tuple[str, float]], rng: np.random.Generator
) -> dict[str, list[Entry]]:
    """Cut whole groups: one permutation of the sorted groups, test first, then validation."""
    groups = sorted({e.group for e in pool if e.group is not None}, key=natural_key)
    needed = len(cuts) + 1
    if cuts and len(groups) < needed:
        asked = " and ".join(f"{name} (data.{name}={fraction:g})" for name, fraction in cuts)
        raise DataError(
            f"data.group_pattern: {_count(len(groups), 'group')} ({_names(groups)}) cannot "
            f"be cut into {asked} with at least one group each and one left for training: "
            f"need at least {needed} groups"
        )
    order = [groups[i] for i in rng.permutation(len(groups))]
    assigned: dict[str, str] = {}
    start = 0
    for position, (name, fraction) in enumerate(cuts):
        remaining = len(order) - start
        # Leave one group for each later cut and one for training.
        room = remaining - (len(cuts) - position)
        take = min(max(round(remaining * fraction), 1), room)
        assigned.update((group, name) for group in order[start : start + take])
        start += take
    out: dict[str, list[Entry]] = {name: [] for name, _ in cuts}
    out["train"] = []
    for entry in pool:
        out[assigned.get(entry.group or "", "train")].append(entry)
    return out


def check_classes(
    splits: dict[str, list[Entry]], where: dict[Path, str], warnings: list[str], quiet: set[str]
) -> list[Problem]:
    """A class of validation or test that training lacks is a problem; the reverse warns.

    Args:
        splits: The splits :func:`cut_splits` made.
        where: Entry path -> where its split was given (a split folder, ``index.csv:LINE``).
        warnings: Appended to: classes missing from a split, empty splits.
        quiet: Splits whose emptiness was asked for (no warning).

    Returns:
        One problem per class of validation or test that training lacks.
    """
    problems: list[Problem] = []
    trained = {e.label for e in splits["train"]}
    if not trained:
        problems.append(Problem("no files left for the training split"))
    for split in ("validation", "test"):
        entries = splits.get(split, [])
        present: dict[str, Entry] = {}
        for entry in entries:
            present.setdefault(entry.label, entry)
        for label, entry in sorted(present.items(), key=lambda item: natural_key(item[0])):
            if label in trained or not trained:
                continue
            how = "" if entry.split == split else " (cut there by data.group_pattern)"
            problems.append(
                Problem(
                    f"{where[entry.path]}: class {label!r} is in the {split} split{how} but "
                    f"not in the training split (training has {_names(_sorted(trained))})"
                )
            )
        absent = [label for label in _sorted(trained) if label not in present]
        if entries and absent:
            warnings.append(f"the {split} split has no file of class {_names(absent)}")
        if not entries and split in splits and split not in quiet:
            warnings.append(f"the {split} split is empty")
    return problems


def shared_groups(splits: dict[str, list[Entry]]) -> list[str]:
    """Groups that the layout put in two splits (a cut never does)."""
    homes: dict[str, set[str]] = {}
    for split, entries in splits.items():
        for entry in entries:
            if entry.group is not None:
                homes.setdefault(entry.group, set()).add(split)
    shared = _sorted(g for g, s in homes.items() if len(s) > 1)
    if not shared:
        return []
    return [
        f"{_count(len(shared), 'group')} of data.group_pattern in two splits or more: "
        f"{_names(shared)} (e.g. {shared[0]!r} in {', '.join(sorted(homes[shared[0]]))})"
    ]


def _sorted(names: Iterable[str]) -> list[str]:
    return sorted(names, key=natural_key)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _names(names: Iterable[str], limit: int = 5) -> str:
    """``'a', 'b', 'c' and 4 more``: a list short enough for one message line."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        shown += f" and {len(names) - limit} more"
    return shown or "none"
