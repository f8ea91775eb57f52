"""A persistent XLA compilation cache for the CLI, so a model is compiled once per machine.

With ``jit_compile`` on, TensorFlow compiles every train, test and predict step with XLA the
first time it meets a batch shape: about a second each on a CPU, paid again by every run of
the same model in a new process. TensorFlow can keep the compiled programs on disk
(``TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=DIR``; an entry is keyed by the program's
HLO fingerprint and written to a temporary file, then renamed), so the CLI turns that on:
a rerun, a resume, a tuning trial or a test run of a model already compiled on this machine
loads the program instead. The compiled code is the same, so results are identical.

``DLTRAIN_XLA_CACHE`` chooses the folder (default ``$XDG_CACHE_HOME/dltrain/xla``, else
``~/.cache/dltrain/xla``); ``off`` turns the cache off. A ``TF_XLA_FLAGS`` that already names
a cache folder is left alone. The folder is trimmed to :data:`MAX_BYTES`, oldest entries first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["MAX_BYTES", "cache_dir", "trim", "xla_cache"]

MAX_BYTES = 1 << 30
FLAG = "--tf_xla_persistent_cache_directory"
_OFF = {"0", "off", "false", "no", "none"}


def cache_dir(env: MutableMapping[str, str]) -> Path | None:
    """The cache folder the environment asks for (``None``: off)."""
    setting = env.get("DLTRAIN_XLA_CACHE", "").strip()
    if setting.lower() in _OFF:
        return None
    if setting:
        return Path(setting).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dltrain" / "xla"


def trim(folder: Path, max_bytes: int = MAX_BYTES, now: float | None = None) -> None:
    """Drop empty entries, temporary files left by a killed writer, and the oldest entries
    beyond ``max_bytes``."""
    now = time.time() if now is None else now
    entries = []
    for path in folder.glob("*"):
        try:
            stat = path.stat()
        except OSError:
            continue
        stale_temp = ".tmp" in path.name and now - stat.st_mtime > 3600
        if stale_temp or (path.suffix == ".pb" and stat.st_size == 0):
            path.unlink(missing_ok=True)
        elif path.suffix == ".pb":
            entries.append((stat.st_atime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size


@contextmanager
def xla_cache(env: MutableMapping[str, str] | None = None) -> Iterator[Path | None]:
    """Point TensorFlow's persistent XLA cache at :func:`cache_dir` while the block runs.

    Yields the folder, or ``None`` when the cache is off, the user set their own, or the
    folder cannot be created (compilation then simply happens every time).
    """
    env = os.environ if env is None else env
    before = env.get("TF_XLA_FLAGS")
    folder = cache_dir(env)
    # TF_XLA_FLAGS is split on spaces: a folder whose path has one cannot be named there.
    if folder is None or FLAG in (before or "") or " " in str(folder):
        yield None
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        trim(folder)
    except OSError:
        yield None
        return
    env["TF_XLA_FLAGS"] = f"{before or ''} {FLAG}={folder}".strip()
    try:
        yield folder
    finally:
        if before is None:
            env.pop("TF_XLA_FLAGS", None)
        else:
            env["TF_XLA_FLAGS"] = before
