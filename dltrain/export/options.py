"""What ``dltrain export`` accepts, checked before anything is loaded or written (no TensorFlow).

Each unsupported combination of format, quantization and input gets one message that names
the format, the input and what to use instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from dltrain.data.spec import DataSpec
from dltrain.errors import ExportError, UsageError, first_line

__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "artifact_path",
    "check_options",
    "check_supported",
    "conversion_error",
    "require_packages",
    "sidecar_path",
]

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZATIONS = ("none", "dynamic", "float16", "int8")

# Import name -> pip name, per format (runtime included: every export is verified).
_PACKAGES = {
    "saved_model": {},
    "tflite": {"ai_edge_litert": "ai-edge-litert"},
    "onnx": {"tf2onnx": "tf2onnx", "onnxruntime": "onnxruntime", "onnx": "onnx"},
}
_SUFFIX = {"saved_model": ".saved_model", "tflite": ".tflite", "onnx": ".onnx"}


def check_options(fmt: str, quantize: str) -> None:
    """Validate ``--format`` and ``--quantize`` on their own and together.

    Raises:
        UsageError: an unknown format or quantization, or quantization asked of a format
            that dltrain exports as float32 only.
    """
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}; received {fmt!r}")
    if quantize not in QUANTIZATIONS:
        raise UsageError(
            f"--quantize must be one of {', '.join(QUANTIZATIONS)}; received {quantize!r}"
        )
    if quantize != "none" and fmt != "tflite":
        raise UsageError(
            f"--format {fmt} does not support --quantize {quantize}: SavedModel and ONNX "
            f"exports are float32; use --format tflite --quantize {quantize}, or --quantize none"
        )


def check_supported(fmt: str, quantize: str, spec: DataSpec) -> None:
    """Refuse exports whose format cannot carry one of the model's raw inputs.

    Raises:
        ExportError: string (categorical) inputs with ONNX, whose converter cannot translate
            the vocabulary lookup. (TFLite, int8 included, keeps the lookup as built-in
            hash-table ops.)
    """
    strings = [i.name for i in spec.raw_inputs if i.dtype == "string"]
    if strings and fmt == "onnx":
        names = ", ".join(repr(s) for s in strings)
        raise ExportError(
            f"--format onnx cannot carry the text input {names}: tf2onnx does not convert the "
            "category lookup (StringLookup) inside the model; use --format saved_model or "
            "--format tflite, or encode the column as integer codes and retrain"
        )


def require_packages(fmt: str) -> None:
    """Check the converter and runtime of ``fmt`` are installed.

    Raises:
        ExportError: naming the missing packages and the ``export`` extra that installs them.
    """
    missing = [pip for module, pip in _PACKAGES[fmt].items() if not _installed(module)]
    if missing:
        raise ExportError(
            f"--format {fmt} needs {', '.join(missing)} (not installed); "
            "install them with: pip install 'dltrain[export]'"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def artifact_path(run_dir: Path, checkpoint: str, fmt: str, quantize: str) -> Path:
    """Default output: ``RUN/export/<checkpoint>[-<quantize>].<format suffix>``.

    The quantization goes before the suffix so that the file keeps the extension its runtime
    (and ``dltrain predict``) recognises.
    """
    tag = "" if quantize == "none" else f"-{quantize}"
    return run_dir / "export" / f"{checkpoint}{tag}{_SUFFIX[fmt]}"


def sidecar_path(artifact: Path) -> Path:
    """The ``export.json`` written beside an artifact: ``<artifact name>.export.json``."""
    return artifact.with_name(f"{artifact.name}.export.json")


def conversion_error(option: str, exc: BaseException) -> ExportError:
    """A converter's failure, as one message: its first line and the format to use instead."""
    return ExportError(
        f"{option}: the converter refused the model ({first_line(exc)}); use --format saved_model, "
        "which keeps every TensorFlow operation"
    )
