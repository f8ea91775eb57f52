"""``dltrain benchmark``'s table: one row per format x quantization, and the recommendation.

Pure data (no TensorFlow): the rows are built from each artifact's ``export.json`` by
:mod:`dltrain.export.benchmark`, written as ``benchmark.csv``/``benchmark.json`` and rendered
by the CLI.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from dltrain.utils.units import format_bytes

__all__ = ["COLUMNS", "BenchRow", "Status", "csv_rows", "recommend", "row_from_record"]

Status = Literal["reference", "verified", "beyond tolerance", "unsupported"]

RUNTIME_PACKAGE = {
    "keras": "keras",
    "saved_model": "tensorflow",
    "tflite": "ai-edge-litert",
    "onnx": "onnxruntime",
}
"""The package whose version says which runtime ran each format."""


@dataclass
class BenchRow:
    """One cell of the benchmark: a format and quantization, how it fared."""

    format: str
    quantization: str
    status: Status
    why: str = ""
    """Why it is unsupported, or which tolerance it missed."""
    size_bytes: int | None = None
    metric: str | None = None
    """``accuracy`` (classification) or ``mae`` (regression): the first target's."""
    value: float | None = None
    change: float | None = None
    """``value`` minus the Keras model's on the same examples."""
    max_abs_diff: float | None = None
    latency_ms_b1: float | None = None
    """Median milliseconds per example, one example per call (warm)."""
    latency_ms_b256: float | None = None
    """Median milliseconds per example in batches of 256 (warm)."""
    runtime: str = ""
    """The runtime package and version, ``ai-edge-litert 1.4.0``."""
    artifact: str | None = None
    reused: bool = False
    """The artifact was already there, verified, for the same checkpoint."""


COLUMNS = tuple(BenchRow.__dataclass_fields__)
"""The CSV header, in the dataclass's order."""


def _runtime(fmt: str, versions: dict[str, str]) -> str:
    package = RUNTIME_PACKAGE.get(fmt, fmt)
    version = versions.get(package)
    return f"{package} {version}" if version else package


def row_from_record(
    record: dict[str, Any], *, artifact: str, reused: bool, keras: bool = False
) -> BenchRow:
    """The row an ``export.json`` describes; ``keras=True``: the Keras model's own row."""
    check = record.get("verification", {})
    metrics = check.get("metrics", {})
    latency = check.get("latency_ms_per_example") or {}
    side = "keras" if keras else "export"
    values = metrics.get(side, {})
    metric = next(iter(values), None)
    value = values.get(metric) if metric else None
    reference = metrics.get("keras", {}).get(metric) if metric else None
    status: Status
    if keras:
        status = "reference"
    else:
        status = "verified" if check.get("status") == "verified" else "beyond tolerance"
    fmt = "keras" if keras else str(record["format"])
    return BenchRow(
        format=fmt,
        quantization="none" if keras else str(record["quantize"]),
        status=status,
        why="" if keras else "; ".join(check.get("failures", [])),
        size_bytes=int(record["keras_size_bytes" if keras else "size_bytes"]),
        metric=metric,
        value=value,
        change=None if value is None or reference is None else value - reference,
        max_abs_diff=0.0 if keras else check.get("max_abs_diff"),
        latency_ms_b1=latency.get(side, {}).get("batch_1"),
        latency_ms_b256=latency.get(side, {}).get("batch_256"),
        runtime=_runtime(fmt, record.get("versions", {})),
        artifact=None if keras else artifact,
        reused=reused and not keras,
    )


def csv_rows(rows: list[BenchRow]) -> list[dict[str, Any]]:
    """The rows as ``benchmark.csv`` holds them (empty cells for what does not apply)."""
    return [{k: ("" if v is None else v) for k, v in asdict(row).items()} for row in rows]


def _describe(row: BenchRow) -> str:
    quant = "" if row.quantization == "none" else f" {row.quantization}"
    return f"{row.format}{quant}"


def recommend(rows: list[BenchRow]) -> str:
    """One line: the smallest artifact within tolerance, and the fastest one at batch 1."""
    fit = [r for r in rows if r.status == "verified" and r.size_bytes is not None]
    if not fit:
        return (
            "no export is within tolerance: keep the Keras model, or see each row's reason "
            "(quantized ones: more calibration data, or a float format)"
        )
    smallest = min(fit, key=lambda r: (r.size_bytes or 0, r.latency_ms_b1 or float("inf")))
    assert smallest.size_bytes is not None
    size = format_bytes(smallest.size_bytes)
    parts = [f"smallest within tolerance: {_describe(smallest)} ({size}"]
    if smallest.metric and smallest.value is not None:
        change = f", {smallest.change:+.4f}" if smallest.change is not None else ""
        parts[0] += f", {smallest.metric} {smallest.value:.4f}{change}"
    parts[0] += ")"
    timed = [r for r in fit if r.latency_ms_b1 is not None]
    if timed:
        fastest = min(timed, key=lambda r: r.latency_ms_b1 or 0.0)
        parts.append(
            f"fastest at batch 1: {_describe(fastest)} ({fastest.latency_ms_b1:.4f} ms/example)"
        )
    return "recommended: " + "; ".join(parts)
