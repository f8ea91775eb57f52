"""``benchmark_run``: every format x quantization of a run, exported, verified and timed.

Each cell goes through :func:`dltrain.export.export_run` (written, loaded in its own runtime,
compared with the Keras model on the test split, timed at batch 1 and 256), so a benchmark row
says what ``dltrain export`` would; the table is built from the artifacts' ``export.json``
files, so it agrees with them. An artifact already at the default path whose record says it
was verified and timed for the same checkpoint (SHA-256) is reused; ``force`` rebuilds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dltrain.errors import DltrainError, ExportError, UsageError
from dltrain.export.bench_table import COLUMNS, BenchRow, csv_rows, recommend, row_from_record
from dltrain.export.exporter import export_run
from dltrain.export.formats import FORMATS, QUANTIZATIONS
from dltrain.export.model_source import read_spec
from dltrain.export.options import (
    artifact_path,
    check_options,
    check_supported,
    require_packages,
    sidecar_path,
)
from dltrain.export.record import read_record
from dltrain.report.saved_run import open_saved_run
from dltrain.storage import atomic_write_text
from dltrain.storage.atomic import atomic_write
from dltrain.utils.digest import file_sha256

__all__ = ["Benchmark", "benchmark_run"]

SPLITS = ("test",)
"""Exports are verified on the test split; the benchmark measures what they were proven on."""


@dataclass
class Benchmark:
    """The table, where it was written, and the recommendation."""

    run_dir: Path
    checkpoint: Path
    rows: list[BenchRow]
    recommendation: str
    csv_path: Path
    json_path: Path
    examples: int | None = None
    notes: list[str] = field(default_factory=list)


def _cells(formats: Sequence[str] | None, quantize: Sequence[str] | None) -> list[tuple[str, str]]:
    for name in formats or ():
        if name not in FORMATS:
            raise UsageError(f"--formats: unknown format {name!r}; one of {', '.join(FORMATS)}")
    for q in quantize or ():
        if q not in QUANTIZATIONS:
            raise UsageError(
                f"--quantize: unknown quantization {q!r}; one of {', '.join(QUANTIZATIONS)}"
            )
    chosen = [FORMATS[n] for n in formats] if formats else list(FORMATS.values())
    cells = [(f.name, q) for f in chosen for q in f.quantizations if not quantize or q in quantize]
    if not cells:
        raise UsageError(
            "--formats and --quantize leave nothing to benchmark (only tflite takes "
            "dynamic, float16 and int8)"
        )
    return cells


def _reusable(path: Path, sha: str) -> dict[str, Any] | None:
    """The artifact's record when it was verified and timed for this checkpoint."""
    if not path.exists() or not sidecar_path(path).is_file():
        return None
    try:
        record = read_record(path)
    except DltrainError:
        return None
    check = record.get("verification", {})
    same = record.get("source", {}).get("checkpoint_sha256") == sha
    timed = check.get("latency_ms_per_example") is not None
    return record if same and timed and check.get("status") in ("verified", "unverified") else None


def benchmark_run(
    target: Path,
    *,
    formats: Sequence[str] | None = None,
    quantize: Sequence[str] | None = None,
    split: str = "test",
    force: bool = False,
    on_cell: Callable[[str, str], None] | None = None,
    latency_budget_s: float = 0.5,
) -> Benchmark:
    """Export, verify and time every format x quantization of ``target``'s best checkpoint.

    Args:
        target: A run folder, or ``runs/NAME`` (its latest run).
        formats: Formats to include (default: all).
        quantize: Quantizations to include (default: every one a format takes).
        split: The split measured: ``test`` (what exports are verified on).
        force: Rebuild artifacts even when a verified one for this checkpoint is there.
        on_cell: Told ``(format, quantization)`` before each cell (progress).
        latency_budget_s: About how long each timing repeats (tests shorten it).

    Returns:
        The rows (the Keras model first), written to ``<run>/export/benchmark.csv`` and
        ``benchmark.json``.

    Raises:
        UsageError: unknown formats or quantizations, or another split.
        CheckpointError: an unreadable run.
    """
    if split not in SPLITS:
        raise UsageError(
            f"--split {split!r}: exports are verified on the test split, so the benchmark "
            "measures that one; use --split test"
        )
    cells = _cells(formats, quantize)
    saved = open_saved_run(target, "best")
    run_dir = saved.run.path
    spec = read_spec(run_dir)
    sha = file_sha256(saved.checkpoint)
    rows: list[BenchRow] = []
    keras_row: BenchRow | None = None
    examples: int | None = None
    for fmt, q in cells:
        if on_cell is not None:
            on_cell(fmt, q)
        try:
            check_options(fmt, q)
            check_supported(fmt, q, spec)
            require_packages(fmt)
        except (ExportError, UsageError) as exc:
            rows.append(BenchRow(fmt, q, "unsupported", why=exc.message))
            continue
        path = artifact_path(run_dir, "best", fmt, q)
        record = None if force else _reusable(path, sha)
        reused = record is not None
        if record is None:
            try:
                export_run(
                    run_dir, fmt=fmt, quantize=q, output=path, latency_budget_s=latency_budget_s
                )
            except ExportError as exc:
                rows.append(BenchRow(fmt, q, "unsupported", why=exc.message))
                continue
            record = read_record(path)
        rows.append(row_from_record(record, artifact=path.name, reused=reused))
        if keras_row is None:
            keras_row = row_from_record(record, artifact="", reused=False, keras=True)
            keras_row.size_bytes = saved.checkpoint.stat().st_size
            examples = record.get("verification", {}).get("examples")
    if keras_row is not None:
        rows.insert(0, keras_row)
    line = recommend(rows)
    out = run_dir / "export"
    out.mkdir(exist_ok=True)
    csv_path, json_path = out / "benchmark.csv", out / "benchmark.json"
    _write_csv(csv_path, rows)
    body = {
        "run": str(run_dir),
        "checkpoint": str(saved.checkpoint),
        "checkpoint_sha256": sha,
        "split": split,
        "examples": examples,
        "rows": [asdict(r) for r in rows],
        "recommendation": line,
    }
    atomic_write_text(json_path, json.dumps(body, indent=2) + "\n")
    notes = [saved.note] if saved.note else []
    return Benchmark(run_dir, saved.checkpoint, rows, line, csv_path, json_path, examples, notes)


def _write_csv(path: Path, rows: list[BenchRow]) -> None:
    import csv

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
            writer.writeheader()
            writer.writerows(csv_rows(rows))

    atomic_write(path, write)
