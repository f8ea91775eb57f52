"""Where a command may write a file the user named (``predict -o``): never over its inputs.

A run folder belongs to its run: a file written into it (over ``run.json``, say) would make
the run unreadable. The checks run before any work, so a refused output costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dltrain.errors import RunFolderError, UsageError
from dltrain.storage import MANIFEST, atomic_write_text

__all__ = ["check_output_file", "write_output_file"]


def _run_folder_holding(path: Path) -> Path | None:
    """The run folder (a folder with ``run.json``) that ``path`` lies in, if any."""
    for folder in path.parents:
        if (folder / MANIFEST).is_file():
            return folder
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output_file(
    output: Path, *, inputs: Sequence[Path] = (), overwrite: bool = False
) -> None:
    """Refuse an output path that would destroy something; call before doing the work.

    Args:
        output: The file the user asked for.
        inputs: Files the command reads (the input CSV, the run folder or checkpoint).
        overwrite: Replace an existing file (never an input or a run folder's file).

    Raises:
        UsageError: ``output`` is a folder, one of ``inputs``, inside a run folder, or an
            existing file without ``overwrite``.
    """
    if output.is_dir():
        raise UsageError(
            f"{output}: is a folder; give a file name for the output, "
            f"e.g. {output / 'predictions.csv'}"
        )
    for given in inputs:
        if output.exists() and _same_file(output, given):
            raise UsageError(f"{output}: is the input {given}; write the output to another file")
    resolved = output.resolve()
    run_folder = _run_folder_holding(resolved)
    if run_folder is not None:
        raise UsageError(
            f"{output}: inside the run folder {run_folder}, whose files belong to the run "
            f"(run.json, config.yaml, metrics.csv, checkpoints); write the output elsewhere"
        )
    if output.exists() and not overwrite:
        raise UsageError(f"{output}: already exists; add --overwrite to replace it")


def write_output_file(output: Path, text: str) -> None:
    """Write ``text`` to ``output`` atomically (a reader never sees half of it).

    Raises:
        RunFolderError: the file cannot be written (no such folder, no permission, disk full).
    """
    try:
        atomic_write_text(output, text)
    except OSError as exc:
        raise RunFolderError(f"{output}: cannot write the output ({exc.strerror or exc})") from exc
