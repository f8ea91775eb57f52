"""``export_run``: a run's checkpoint -> a verified SavedModel, TFLite or ONNX artifact."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.errors import UsageError
from dltrain.export.base import Runtime
from dltrain.export.calibration import collapse_hint, parse_calibration
from dltrain.export.formats import FORMATS, artifact_format
from dltrain.export.model_source import ExportSource, load_source, read_spec
from dltrain.export.options import (
    artifact_path,
    check_options,
    check_output,
    check_supported,
    require_packages,
    sidecar_path,
)
from dltrain.export.record import ExportResult, export_record
from dltrain.export.runtime import open_runtime, predict_in_batches
from dltrain.export.verify import measure_latency, verify_outputs
from dltrain.report.saved_run import SavedRun, open_saved_run
from dltrain.storage import atomic_write, atomic_write_text, utc_now
from dltrain.storage.atomic import atomic_write_dir
from dltrain.utils.digest import file_sha256
from dltrain.version import __version__

__all__ = ["export_run"]

# Recorded in export.json: what wrote the artifact and what verified it.
_PACKAGES = tuple(
    dict.fromkeys(
        ["tensorflow", "keras", *(pip for f in FORMATS.values() for pip in f.packages.values())]
    )
)


def export_run(
    target: Path,
    *,
    fmt: str,
    quantize: str = "none",
    checkpoint: str = "best",
    output: Path | None = None,
    verify: bool = True,
    latency: bool = True,
    trust_imports: bool = False,
    calibration: str | None = None,
    latency_budget_s: float = 0.5,
) -> ExportResult:
    """Export a run's checkpoint so that it takes raw inputs, then prove it on the test split.

    The artifact is written, loaded and verified under a temporary name, then published with
    :mod:`dltrain.storage.atomic` (fsync, rename), followed by its ``<name>.export.json``: a
    failed export leaves nothing half-written. An export that misses its tolerances is kept,
    marked ``unverified`` (``result.verified`` is False).

    Args:
        target: A run folder, or a ``.keras`` checkpoint inside one.
        fmt: A name in :data:`~dltrain.export.formats.FORMATS`: ``saved_model``, ``tflite``
            or ``onnx``.
        quantize: ``none``, or for TFLite ``dynamic``, ``float16`` or ``int8``.
        checkpoint: ``best`` or ``last`` (run folders).
        output: Artifact path (default ``RUN/export/<checkpoint>[-<quantize>].<suffix>``).
        verify: Load the artifact in its runtime and compare it with the Keras model.
        latency: While verifying, also time both (about 2 s); ``False`` leaves
            ``result.latency_ms`` as ``None``, recorded as not measured.
        trust_imports: The run's plugins may be imported from where it recorded them, once
            their code matches the recorded SHA-256 (``--trust-imports``, docs/extending.md).
        calibration: int8 only: ``N`` training examples, ``split:train``,
            ``split:validation`` or a ``.npz`` file (:mod:`dltrain.export.calibration`);
            default 300 seeded training examples. Recorded in ``export.json``.
        latency_budget_s: About how long each of the four timings repeats its calls.

    Raises:
        UsageError: unknown or incompatible options, or an output path that is taken; a
            plugin that needs ``trust_imports`` or is not the code the run recorded.
        ExportError: the format cannot carry the model, or its packages are missing.
        CheckpointError: an unreadable run or checkpoint.
        DataError: the run's data cannot be read.
    """
    check_options(fmt, quantize)
    if calibration is not None and quantize != "int8":
        raise UsageError(
            f"--calibration {calibration}: only --quantize int8 is calibrated (dynamic and "
            "float16 quantize weights alone)"
        )
    choice = parse_calibration(calibration)
    require_packages(fmt)
    if artifact_format(target) is not None:
        raise UsageError(f"{target}: already an exported model; give the run folder it came from")
    saved = open_saved_run(target, checkpoint, trust_imports=trust_imports)
    spec = read_spec(saved.run.path)
    check_supported(fmt, quantize, spec)
    name = checkpoint if target.is_dir() else target.stem
    out = check_output(output or artifact_path(saved.run.path, name, fmt, quantize), fmt)
    source = load_source(
        saved, spec, verify=verify, calibrate=quantize == "int8", calibration=choice
    )
    import tensorflow as tf

    # The converters log deprecation notices through TensorFlow's Python logger; the CLI's
    # QuietOutput gives the root logger a handler first, so TensorFlow adds no stderr one.
    tf.get_logger()
    record_path = sidecar_path(out)
    done: list[tuple[ExportResult, dict[str, Any]]] = []  # what build() made of the artifact

    def build(tmp: Path) -> None:
        """Write, load and verify the artifact at its temporary name; describe it."""
        _write(source, tmp, fmt, quantize)
        runtime = open_runtime(tmp, fmt)
        opset = FORMATS[fmt].opset
        result = ExportResult(
            path=out,
            record_path=record_path,
            format=fmt,
            quantize=quantize,
            size_bytes=_size(tmp),
            keras_size_bytes=_size(saved.checkpoint),
            verified=None,
            opset=None if opset is None else opset(tmp),
            calibration=source.calibration_record,
        )
        if verify:
            _verify(result, source, runtime, latency=latency, budget_s=latency_budget_s)
        record = export_record(
            result,
            checkpoint=saved.checkpoint.resolve(),
            run_dir=saved.run.path.resolve(),
            inputs=runtime.inputs,
            outputs=runtime.outputs,
            config=saved.loaded.to_dict(),
            data_spec=json.loads(spec.to_json()),
            created=utc_now().isoformat(),
            versions=_versions(),
            checkpoint_sha256=file_sha256(saved.checkpoint),
        )
        done.append((result, record))
        # Last, just before the rename: an earlier export's record goes first, so that a crash
        # between the artifact's rename and the record's never leaves a record beside an
        # artifact it does not describe (only an artifact without one, which predict refuses).
        record_path.unlink(missing_ok=True)

    publish = atomic_write_dir if FORMATS[fmt].folder else atomic_write
    publish(out, build)
    result, record = done[0]
    if source.precision is not None:
        record["precision"] = source.precision
    atomic_write_text(record_path, json.dumps(record, indent=2, default=str) + "\n")
    result.notes = _status_notes(saved)
    if source.precision is not None:
        result.notes.append(
            f"the checkpoint computes in {source.precision['checkpoint']}; the export computes "
            "in float32 with the same weights (verified against that float32 model)"
        )
    return result


def _status_notes(saved: SavedRun) -> list[str]:
    """A run that did not complete is still exported, with its status said."""
    manifest = saved.run.manifest
    if manifest.status == "completed":
        return []
    epochs = manifest.epochs_completed or 0
    return [
        f"note: the run is {manifest.status} ({epochs} epoch{'s' if epochs != 1 else ''} "
        f"completed): {saved.checkpoint.name} is exported as the run left it"
    ]


def _write(source: ExportSource, path: Path, fmt: str, quantize: str) -> None:
    FORMATS[fmt].write(source.model, path, quantize, source.calibration)


def _verify(
    result: ExportResult,
    source: ExportSource,
    runtime: Runtime,
    *,
    latency: bool,
    budget_s: float,
) -> None:
    import tensorflow as tf

    assert source.test is not None
    test = source.test
    exported = predict_in_batches(runtime, test.x)
    check = verify_outputs(
        source.spec.targets,
        test.reference,
        exported,
        test.labels,
        quantized=result.quantize != "none",
    )
    if result.quantize == "int8":
        for name, before in check.keras_metrics.items():
            hint = collapse_hint(name, check.export_metrics[name], before)
            if hint is not None:
                check.failures.insert(0, hint)
                result.collapsed = True
    result.verification = check
    result.verified = check.verified
    if not latency:
        return

    def keras_predict(x: dict[str, np.ndarray]) -> Any:
        return source.model.predict_on_batch({k: tf.constant(v) for k, v in x.items()})

    result.latency_ms = {
        runtime_name: {
            f"batch_{batch}": measure_latency(predict, test.x, batch, budget_s=budget_s)
            for batch in (1, 256)
        }
        for runtime_name, predict in (("export", runtime.predict), ("keras", keras_predict))
    }


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _versions() -> dict[str, str]:
    versions = {"dltrain": __version__}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
