"""What a CSV load found: rows, column kinds, empty cells, splits, classes, targets, text.

Shown by ``dltrain check`` and recorded in run.json (``data.summary``). Plain data, built by
:func:`dltrain.data.csv.arrays.load_csv_arrays` as it reads; no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dltrain.data.csv.columns import ColumnPlan
from dltrain.data.csv.text import TextVocab
from dltrain.data.spec import TargetInfo

__all__ = ["CsvSummary", "FileCounts"]

_SHOWN_CLASSES = 8


@dataclass
class FileCounts:
    """Rows of one CSV file as the loader saw them."""

    path: str
    rows: int = 0
    """Data rows read (``data.limit`` applied)."""
    excluded: int = 0
    """Left out by ``data.exclude``."""
    dropped: int = 0
    """Left out for an empty cell (``missing: drop``) or an empty target."""
    empty: dict[str, int] = field(default_factory=dict)
    """Empty cells per used column, among the rows not excluded."""

    @property
    def used(self) -> int:
        """Rows that reach a split."""
        return self.rows - self.excluded - self.dropped


@dataclass
class CsvSummary:
    """The data summary of one CSV config."""

    files: list[FileCounts]
    columns: dict[str, list[str]]
    """Feature columns by kind (numeric, categorical, text) and the target(s)."""
    inferred: bool
    """Whether ``categorical: auto`` decided the categorical columns."""
    splits: dict[str, dict[str, Any]]
    """Per split: rows, groups (with ``data.group``), class counts or target range."""
    text: dict[str, str] = field(default_factory=dict)
    """Per text column, what its adapted vocabulary is (one line)."""

    def to_json(self) -> dict[str, Any]:
        """For run.json."""
        return {
            "files": [
                {
                    "path": f.path,
                    "rows": f.rows,
                    "excluded": f.excluded,
                    "dropped": f.dropped,
                    "used": f.used,
                    "empty_cells": dict(f.empty),
                }
                for f in self.files
            ],
            "columns": self.columns,
            "categorical_inferred": self.inferred,
            "splits": self.splits,
        }

    def lines(self) -> list[str]:
        """What ``dltrain check`` prints."""
        out = []
        for f in self.files:
            parts = [f"{f.rows:,} rows read"]
            if f.excluded:
                parts.append(f"{f.excluded:,} excluded")
            if f.dropped:
                parts.append(f"{f.dropped:,} dropped (empty cells)")
            parts.append(f"{f.used:,} used")
            out.append(f"{f.path}: {', '.join(parts)}")
            empty = ", ".join(f"{c} {n:,}" for c, n in f.empty.items() if n)
            out.append(f"  empty cells: {empty or 'none'}")
        kinds = []
        for kind in ("numeric", "categorical", "text"):
            names = self.columns.get(kind, [])
            label = f"{kind} (inferred)" if kind == "categorical" and self.inferred else kind
            kinds.append(f"{label} {', '.join(names) or 'none'}")
        out.append(f"columns: {'; '.join(kinds)}")
        out.append(f"target: {', '.join(self.columns.get('target', []))}")
        for name, split in self.splits.items():
            out.append(f"{name}: {_describe_split(split)}")
        out.extend(self.text.values())
        return out


def _describe_split(split: Mapping[str, Any]) -> str:
    parts = [f"{split['rows']:,} rows"]
    if "groups" in split:
        parts.append(f"{split['groups']:,} groups")
    for target, counts in split.get("classes", {}).items():
        total = sum(counts.values()) or 1
        shown = [f"{c} {n:,} ({n / total:.0%})" for c, n in list(counts.items())[:_SHOWN_CLASSES]]
        more = ", ..." if len(counts) > _SHOWN_CLASSES else ""
        parts.append(f"{target}: {', '.join(shown)}{more}")
    for target, spread in split.get("range", {}).items():
        parts.append(
            f"{target} {spread['min']:.6g} .. {spread['max']:.6g} (mean {spread['mean']:.6g})"
        )
    return "; ".join(parts)


def split_summary(
    labels: list[np.ndarray], infos: list[TargetInfo], groups: int | None
) -> dict[str, Any]:
    """Rows, groups, and per target its class counts or its range, of one split."""
    rows = len(labels[0]) if labels else 0
    out: dict[str, Any] = {"rows": rows}
    if groups is not None:
        out["groups"] = groups
    for values, info in zip(labels, infos, strict=True):
        if info.task == "regression":
            finite = values[np.isfinite(values)]
            if finite.size:
                out.setdefault("range", {})[info.name] = {
                    "min": float(finite.min()),
                    "max": float(finite.max()),
                    "mean": float(finite.mean()),
                }
            continue
        names = info.class_names or ()
        counts = np.bincount(values.astype(np.int64), minlength=len(names))
        out.setdefault("classes", {})[info.name] = {
            name: int(n) for name, n in zip(names, counts, strict=True)
        }
    return out


def column_kinds(plan: ColumnPlan) -> dict[str, list[str]]:
    """Feature columns by kind, and the targets."""
    return {
        "numeric": plan.numeric,
        "categorical": [c for c in plan.features if c in plan.categorical],
        "text": [c for c in plan.features if c in plan.text],
        "target": list(plan.targets),
    }


def text_lines(vocabs: Mapping[str, TextVocab]) -> dict[str, str]:
    """One ``dltrain check`` line per text column."""
    return {column: vocab.describe(column) for column, vocab in vocabs.items()}
