"""The check every data file passes before it is opened: it exists and is a regular file.

A FIFO would block the reader for ever and ``/dev/zero`` would fill memory without end, so
both are refused from ``stat`` alone, before anything is read (as config files are, see
:func:`dltrain.config.yaml_source.read_config_text`). No TensorFlow here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dltrain.errors import DataError

__all__ = ["check_data_file"]


def check_data_file(path: Path, expected: str) -> None:
    """Refuse ``path`` unless it is an existing regular file (symbolic links are followed).

    Args:
        path: The data file about to be opened.
        expected: What it should be, for the message (``"a CSV file"``).

    Raises:
        DataError: missing, a folder, a device, pipe or socket, or not stat-able.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(f"{path}: is a folder, expected {expected}")
    if not stat.S_ISREG(info.st_mode):
        raise DataError(
            f"{path}: not a regular file (a device, pipe or socket); expected {expected}"
        )
