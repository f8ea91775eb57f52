"""``export_run``: a run's checkpoint -> a verified SavedModel, TFLite or ONNX artifact."""

from __future__ import annotations

import json
import os
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from dltrain.errors import UsageError
from dltrain.export.model_source import ExportSource, load_source, read_spec
from dltrain.export.options import (
    artifact_path,
    check_options,
    check_supported,
    require_packages,
    sidecar_path,
)
from dltrain.export.record import ExportResult, export_record
from dltrain.export.runtime import Runtime, artifact_format, open_runtime, predict_in_batches
from dltrain.export.verify import measure_latency, verify_outputs
from dltrain.report.saved_run import open_saved_run
from dltrain.storage import atomic_write_text, utc_now
from dltrain.version import __version__

__all__ = ["export_run"]

_SUFFIXES = {"tflite": ".tflite", "onnx": ".onnx"}
_PACKAGES = ("tensorflow", "keras", "ai-edge-litert", "tf2onnx", "onnxruntime")


def export_run(
    target: Path,
    *,
    fmt: str,
    quantize: str = "none",
    checkpoint: str = "best",
    output: Path | None = None,
    verify: bool = True,
) -> ExportResult:
    """Export a run's checkpoint so that it takes raw inputs, then prove it on the test split.

    The artifact and its ``<name>.export.json`` are written under temporary names and renamed
    into place at the end, so a failed export leaves nothing half-written. An export that
    misses its tolerances is kept, marked ``unverified`` (``result.verified`` is False).

    Args:
        target: A run folder, or a ``.keras`` checkpoint inside one.
        fmt: ``saved_model``, ``tflite`` or ``onnx``.
        quantize: ``none``, or for TFLite ``dynamic``, ``float16`` or ``int8``.
        checkpoint: ``best`` or ``last`` (run folders).
        output: Artifact path (default ``RUN/export/<checkpoint>[-<quantize>].<suffix>``).
        verify: Load the artifact in its runtime and compare it with the Keras model.

    Raises:
        UsageError: unknown or incompatible options, or an output path that is taken.
        ExportError: the format cannot carry the model, or its packages are missing.
        CheckpointError: an unreadable run or checkpoint.
        DataError: the run's data cannot be read.
    """
    check_options(fmt, quantize)
    require_packages(fmt)
    if artifact_format(target) is not None:
        raise UsageError(f"{target}: already an exported model; give the run folder it came from")
    saved = open_saved_run(target, checkpoint)
    spec = read_spec(saved.run.path)
    check_supported(fmt, quantize, spec)
    name = checkpoint if target.is_dir() else target.stem
    out = _check_output(output or artifact_path(saved.run.path, name, fmt, quantize), fmt)
    source = load_source(saved, spec, verify=verify, calibrate=quantize == "int8")
    import tensorflow as tf

    # TensorFlow gives its Python logger a stderr handler on first use; the converters log
    # deprecation notices through it. Initialise it now, then silence it like at start-up.
    tf.get_logger()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    tmp_record = sidecar_path(tmp)
    try:
        opset = _write(source, tmp, fmt, quantize)
        runtime = open_runtime(tmp, fmt)
        result = ExportResult(
            path=out,
            record_path=sidecar_path(out),
            format=fmt,
            quantize=quantize,
            size_bytes=_size(tmp),
            keras_size_bytes=_size(saved.checkpoint),
            verified=None,
            opset=opset,
        )
        if verify:
            _verify(result, source, runtime)
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
        )
        atomic_write_text(tmp_record, json.dumps(record, indent=2, default=str) + "\n")
        _remove(out)
        os.replace(tmp, out)
        os.replace(tmp_record, result.record_path)
    finally:
        _remove(tmp)
        _remove(tmp_record)
    return result


def _check_output(out: Path, fmt: str) -> Path:
    suffix = _SUFFIXES.get(fmt)
    if suffix and out.suffix != suffix:
        raise UsageError(f"-o {out}: a {fmt} export is one file that must end with {suffix}")
    if out.exists() and not sidecar_path(out).is_file():
        raise UsageError(
            f"-o {out}: already exists and is not a dltrain export; choose another path"
        )
    if fmt == "saved_model" and out.is_file():
        raise UsageError(f"-o {out}: a SavedModel is a folder, and a file is in the way")
    return out


def _write(source: ExportSource, path: Path, fmt: str, quantize: str) -> int | None:
    """Write the artifact; returns the ONNX opset (None for the other formats)."""
    if fmt == "saved_model":
        from dltrain.export.saved_model import write_saved_model

        write_saved_model(source.model, path)
        return None
    if fmt == "tflite":
        from dltrain.export.litert import write_tflite

        write_tflite(source.model, path, quantize, source.calibration)
        return None
    from dltrain.export.onnx_format import onnx_opset, write_onnx

    write_onnx(source.model, path)
    return onnx_opset(path)


def _verify(result: ExportResult, source: ExportSource, runtime: Runtime) -> None:
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
    result.verification = check
    result.verified = check.verified

    def keras_predict(x: dict[str, np.ndarray]) -> Any:
        return source.model.predict_on_batch({k: tf.constant(v) for k, v in x.items()})

    result.latency_ms = {
        runtime_name: {
            f"batch_{batch}": measure_latency(predict, test.x, batch) for batch in (1, 256)
        }
        for runtime_name, predict in (("export", runtime.predict), ("keras", keras_predict))
    }


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _versions() -> dict[str, str]:
    versions = {"dltrain": __version__}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
