"""``export.json``: what was exported, from where, and how it compared with the Keras model.

It sits beside the artifact as ``<artifact name>.export.json`` and also carries the run's
resolved config and data spec, so that ``dltrain predict`` can read raw input files for the
artifact even where the run folder is not.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dltrain.errors import CheckpointError
from dltrain.export.base import TensorInfo
from dltrain.export.options import sidecar_path
from dltrain.export.verify import FLOAT_TOLERANCE, Verification

__all__ = ["ExportResult", "export_record", "read_record"]


@dataclass
class ExportResult:
    """One finished export (``verified`` is ``None`` when ``--no-verify`` skipped the check)."""

    path: Path
    record_path: Path
    format: str
    quantize: str
    size_bytes: int
    keras_size_bytes: int
    verified: bool | None
    verification: Verification | None = None
    latency_ms: dict[str, dict[str, float]] | None = None
    """Milliseconds per example by runtime (``export``, ``keras``) and batch (``batch_1``...);
    ``None`` when not measured (``latency=False``, or not verified)."""
    opset: int | None = None
    calibration: dict[str, Any] | None = None
    """int8: where the calibration examples came from and how many (else ``None``)."""
    collapsed: bool = False
    """int8 lost far more than the tolerance (:data:`dltrain.export.calibration.COLLAPSE_DROP`)."""
    notes: list[str] = field(default_factory=list)
    """Said beside the result: the run did not complete, so its checkpoint is where it stopped."""


def export_record(
    result: ExportResult,
    *,
    checkpoint: Path,
    run_dir: Path,
    inputs: list[TensorInfo],
    outputs: list[TensorInfo],
    config: dict[str, Any],
    data_spec: dict[str, Any],
    created: str,
    versions: dict[str, str],
    checkpoint_sha256: str | None = None,
) -> dict[str, Any]:
    """The content of ``export.json``."""
    check = result.verification
    verification: dict[str, Any] = {
        "status": {None: "skipped", True: "verified", False: "unverified"}[result.verified]
    }
    if check is not None:
        verification.update(
            {
                "split": "test",
                "examples": check.examples,
                "max_abs_diff": check.max_abs_diff,
                "tolerance": (
                    {"metrics": "1 point of accuracy, 2% of MAE"}
                    if result.quantize != "none"
                    else {"max_abs_diff": FLOAT_TOLERANCE}
                ),
                "metrics": {"keras": check.keras_metrics, "export": check.export_metrics},
                "failures": check.failures,
                "collapsed": result.collapsed,
                # null, not zeros, when it was not measured
                "latency_ms_per_example": result.latency_ms,
            }
        )
    record: dict[str, Any] = {
        "format": result.format,
        "quantize": result.quantize,
        "artifact": result.path.name,
        "source": {
            "run": str(run_dir),
            "checkpoint": str(checkpoint),
            # `dltrain benchmark` reuses an artifact only for the checkpoint it came from.
            "checkpoint_sha256": checkpoint_sha256,
        },
        "inputs": [asdict(i) for i in inputs],
        "outputs": [asdict(o) for o in outputs],
        "size_bytes": result.size_bytes,
        "keras_size_bytes": result.keras_size_bytes,
        "verification": verification,
        "created": created,
        "versions": versions,
        "config": config,
        "data_spec": data_spec,
    }
    if result.opset is not None:
        record["opset"] = result.opset
    if result.calibration is not None:
        record["calibration"] = result.calibration
    return record


def read_record(artifact: Path) -> dict[str, Any]:
    """The ``export.json`` beside ``artifact``.

    Raises:
        CheckpointError: missing or unreadable.
    """
    path = sidecar_path(artifact)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{artifact}: no {path.name} beside it, so its inputs are unknown; export it with "
            "`dltrain export`, or keep the .export.json file with the artifact"
        ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable export record ({exc})") from exc
    if not isinstance(data, dict) or "config" not in data or "data_spec" not in data:
        raise CheckpointError(f"{path}: not a dltrain export record")
    return data
