"""What one ``dltrain explain`` wrote: ``explain.json`` and the summary the CLI shows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dltrain.storage import atomic_write_text

__all__ = ["Explanation", "SummaryRow", "write_csv", "write_record"]

RECORD = "explain.json"


@dataclass(frozen=True)
class SummaryRow:
    """One line of the terminal's table: a column, a class or a token, and its numbers."""

    name: str
    value: float
    spread: float | None = None
    """± this (a standard deviation), where the method has one."""
    detail: str = ""


@dataclass
class Explanation:
    """One method's result on one split: its summary, its checks, and the files it wrote."""

    method: str
    split: str
    examples: int
    """Examples (rows, images) the method looked at."""
    split_size: int
    seed: int
    checkpoint: str
    settings: dict[str, Any]
    summary_title: str
    value_label: str
    summary: list[SummaryRow] = field(default_factory=list)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per check (``completeness``, ``randomization``): its numbers and ``passed``."""
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``explain.json``'s content."""
        data = asdict(self)
        data["summary"] = [asdict(row) for row in self.summary]
        return data


def write_record(folder: Path, explanation: Explanation) -> Path:
    """Write ``explain.json`` atomically into ``folder``."""
    explanation.files = sorted({*explanation.files, RECORD})
    text = json.dumps(explanation.to_json(), indent=2, default=str) + "\n"
    return atomic_write_text(folder / RECORD, text)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV atomically (floats as Python prints them: full precision)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())
