"""What ``dltrain export`` accepts, checked before anything is loaded or written (no TensorFlow).

Each unsupported combination of format, quantization and input gets one message that names
the format, the input and what to use instead. What each format takes is read from the table
in :mod:`dltrain.export.formats`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from dltrain.data.spec import DataSpec
from dltrain.errors import ExportError, UsageError
from dltrain.export.formats import FORMATS, QUANTIZATIONS
from dltrain.storage import MANIFEST

__all__ = [
    "artifact_path",
    "check_options",
    "check_output",
    "check_supported",
    "require_packages",
    "sidecar_path",
]


def check_options(fmt: str, quantize: str) -> None:
    """Validate ``--format`` and ``--quantize`` on their own and together.

    Raises:
        UsageError: an unknown format or quantization, or a quantization the format does not
            take (SavedModel and ONNX are exported as float32 only).
    """
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}; received {fmt!r}")
    if quantize not in QUANTIZATIONS:
        raise UsageError(
            f"--quantize must be one of {', '.join(QUANTIZATIONS)}; received {quantize!r}"
        )
    chosen = FORMATS[fmt]
    if quantize not in chosen.quantizations:
        takes = (
            f"{chosen.title} exports are float32"
            if chosen.quantizations == ("none",)
            else f"{chosen.title} takes --quantize {', '.join(chosen.quantizations)}"
        )
        instead = " or ".join(
            f"--format {f.name} --quantize {quantize}"
            for f in FORMATS.values()
            if quantize in f.quantizations
        )
        raise UsageError(
            f"--format {fmt} does not support --quantize {quantize}: {takes}; use {instead}, "
            "or --quantize none"
        )


def check_supported(fmt: str, quantize: str, spec: DataSpec) -> None:
    """Refuse exports whose format cannot carry one of the model's raw inputs.

    Raises:
        ExportError: a free-text column (``TextVectorization``) with TFLite or ONNX, or a
            string (categorical) input with ONNX, whose converter cannot translate the
            vocabulary lookup (TFLite, int8 included, keeps the lookup as built-in hash-table
            ops).
    """
    string_inputs = [i for i in spec.raw_inputs if i.dtype == "string"]
    text = [i.name for i in string_inputs if set(i.columns) & set(spec.text)]
    reason = FORMATS[fmt].no_free_text
    if text and reason is not None:
        names = ", ".join(repr(s) for s in text)
        instead = " or ".join(
            f"--format {f.name}" for f in FORMATS.values() if f.no_free_text is None
        )
        raise ExportError(
            f"--format {fmt} cannot carry the text column {names}: {reason}; use {instead}, "
            "which takes the raw text"
        )
    reason = FORMATS[fmt].no_text
    strings = [i.name for i in spec.raw_inputs if i.dtype == "string"]
    if strings and reason is not None:
        names = ", ".join(repr(s) for s in strings)
        instead = " or ".join(f"--format {f.name}" for f in FORMATS.values() if f.no_text is None)
        raise ExportError(
            f"--format {fmt} cannot carry the text input {names}: {reason}; use {instead}, "
            "or encode the column as integer codes and retrain"
        )


def require_packages(fmt: str) -> None:
    """Check the converter and runtime of ``fmt`` are installed.

    Raises:
        ExportError: naming the missing packages and the ``export`` extra that installs them.
    """
    missing = [pip for module, pip in FORMATS[fmt].packages.items() if not _installed(module)]
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
    return run_dir / "export" / f"{checkpoint}{tag}{FORMATS[fmt].suffix}"


def check_output(out: Path, fmt: str) -> Path:
    """Refuse an output path that does not fit ``fmt`` or holds something else than an export.

    Raises:
        UsageError: a one-file format without its suffix, a path taken by anything but an
            earlier export (its ``export.json`` beside it), a file where a folder goes, or a
            place that cannot be written (a read-only file system, no permission).
    """
    chosen = FORMATS[fmt]
    run = _run_folder_of_checkpoints(out)
    if run is not None:
        raise UsageError(
            f"-o {out}: inside {run / 'checkpoints'}, which belongs to the run (its checkpoints "
            f"and resume points); write the export elsewhere, e.g. {run / 'export'}"
        )
    if not chosen.folder and out.suffix != chosen.suffix:
        raise UsageError(f"-o {out}: a {fmt} export is one file that must end with {chosen.suffix}")
    if out.exists() and not sidecar_path(out).is_file():
        raise UsageError(
            f"-o {out}: already exists and is not a dltrain export; choose another path"
        )
    if chosen.folder and out.is_file():
        raise UsageError(f"-o {out}: a {chosen.title} is a folder, and a file is in the way")
    _check_writable(out)
    return out


def _run_folder_of_checkpoints(out: Path) -> Path | None:
    """The run folder whose ``checkpoints/`` holds ``out`` (at any depth), if any."""
    resolved = out.resolve()
    for folder in resolved.parents:
        if folder.name == "checkpoints" and (folder.parent / MANIFEST).is_file():
            return folder.parent
    return None


def _check_writable(out: Path) -> None:
    """Refuse an output whose folder cannot be written, before minutes of converting.

    Missing folders are created by the atomic write, so the nearest existing one is judged.
    ``os.access`` also answers for root on a read-only mount (where permissions do not).
    """
    folder = out.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"-o {out}: cannot write there ({folder} is a file, not a folder)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"-o {out}: cannot write there ({_why_not_writable(folder)})")


def _why_not_writable(folder: Path) -> str:
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{folder} is on a read-only file system"
    except OSError:
        pass
    return f"no permission to write in {folder}"


def sidecar_path(artifact: Path) -> Path:
    """The ``export.json`` written beside an artifact: ``<artifact name>.export.json``."""
    return artifact.with_name(f"{artifact.name}.export.json")
