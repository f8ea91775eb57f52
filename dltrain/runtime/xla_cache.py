"""TensorFlow settings for the CLI: oneDNN kernels on x86-64 CPUs, and XLA's compilation cache.

TensorFlow's own CPU kernels (the convolutions, pooling and matrix products of a model that
XLA does not compile) are oneDNN's only where TensorFlow turns oneDNN on by itself: x86-64 CPUs
with AVX512-VNNI, AVX512-BF16, AVX-VNNI or AMX. Elsewhere, an AVX2 CPU say, it runs its Eigen
kernels, and oneDNN's ran the shipped CNN's train step 1.74x faster (its pooling 5.8x;
docs/benchmarks.md, "oneDNN kernels"); models XLA compiles were unchanged. So on x86-64 the CLI sets
``TF_ENABLE_ONEDNN_OPTS=1`` unless the environment already sets it (``0`` keeps Eigen's).
TensorFlow reads it once, when it is imported: a process that imported TensorFlow before
keeps what it had. ``run.json`` records what the run had (``platform.onednn``).

XLA's CPU backend multiplies matrices with its own Eigen kernels unless told to call oneDNN
(``XLA_FLAGS=--xla_cpu_use_onednn=true``); measured on the classic MLP, oneDNN's kernels train
it about 1.3x faster per epoch (docs/benchmarks.md, "Levers"). The CLI sets that flag unless
``XLA_FLAGS`` already says something about it.

With ``jit_compile`` on, TensorFlow compiles every train, test and predict step with XLA the
first time it meets a batch shape: about a second each on a CPU, paid again by every run of
the same model in a new process. TensorFlow can keep the compiled programs on disk
(``TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=DIR``; an entry is keyed by the program's
HLO fingerprint and written to a temporary file, then renamed), so the CLI turns that on:
a rerun, a resume, a tuning trial or a test run of a model already compiled on this machine
loads the program instead. The compiled code is the same, so results are identical.

TensorFlow loads an entry without checking it: a damaged one (truncated by a full disk or a
copy, say) can load as a wrong program. So no entry is loaded whose integrity was not
established by the process that wrote it: when a process leaves the cache it seals the entries
that appeared while it ran (TensorFlow renamed them into place, so they are whole) with their
SHA-256 in a ``<entry>.sha256`` file beside each; at each start, an entry that no longer
matches its seal is dropped, and so is one that has no seal (its writer was killed, or it came
from an older cache or a copy): either is compiled again.

The cache is an optimisation, so a folder that cannot be used (it cannot be made or written,
or has less than :data:`MIN_FREE_BYTES` free) turns it off for the block instead of failing
the runs in it; the reason is returned to the caller (:class:`CacheState`), which says so.

``DLTRAIN_XLA_CACHE`` chooses the folder (default ``$XDG_CACHE_HOME/dltrain/xla``, else
``~/.cache/dltrain/xla``); ``off`` turns the cache off. A ``TF_XLA_FLAGS`` that already names
a cache folder is left alone. Each folder is trimmed to :data:`MAX_BYTES`, oldest entries
first. The Python API changes no environment variables; wrap calls in
:func:`xla_environment` for the CLI's settings (they must be in place before TensorFlow
is imported, for its oneDNN kernels, and before it compiles anything, for XLA's).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MAX_BYTES",
    "MIN_FREE_BYTES",
    "ONEDNN",
    "TF_ONEDNN",
    "CacheState",
    "cache_dir",
    "check",
    "seal",
    "snapshot",
    "trim",
    "xla_cache",
    "xla_environment",
]

MAX_BYTES = 1 << 30
MIN_FREE_BYTES = 64 << 20
"""Below this much free space in its folder the cache turns itself off: TensorFlow fails the
step (and so the run) whose entry it cannot write, and one entry of the classic MLP's steps
takes about 1 MiB."""
FLAG = "--tf_xla_persistent_cache_directory"
ONEDNN = "--xla_cpu_use_onednn=true"
TF_ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
"""TensorFlow's switch for its oneDNN kernels, read once, when TensorFlow is imported."""
_OFF = {"0", "off", "false", "no", "none"}
SEAL = ".sha256"
"""Suffix of the file beside each entry that holds the entry's SHA-256."""


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
            _drop(path)
        elif path.suffix == ".pb":
            entries.append((stat.st_atime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        _drop(path)
        total -= size


@dataclass(frozen=True)
class CacheState:
    """What :func:`xla_cache` and :func:`xla_environment` did with the compilation cache."""

    folder: Path | None = None
    """The folder TensorFlow was pointed at; ``None`` when the cache is not in use."""
    unusable: Path | None = None
    """The folder asked for, when it could not be used (then :attr:`reason` says why)."""
    reason: str | None = None
    """Why :attr:`unusable` could not be used; ``None`` when the cache is on, or off by choice."""


Snapshot = dict[str, tuple[int, int]]
"""Entry name -> (inode, mtime_ns): the entries a process found when it entered the cache."""


def check(folder: Path) -> list[Path]:
    """Drop every entry that no longer matches its seal or has none, and seals whose entry is
    gone. Returns the dropped entries.

    An unsealed entry is never trusted: its writer died before sealing it (a SIGKILL), or it
    came from a cache or copy without seals, and a damaged one would load as a wrong program.

    An entry whose size and modification time are still those its seal recorded is not read
    again (hashing a 1 GiB cache costs about 2 s a start); any write to it, a truncation
    included, changes them, and then its SHA-256 decides.
    """
    dropped = []
    for seal_path in list(folder.glob(f"*.pb{SEAL}")):
        entry = seal_path.with_name(seal_path.name.removesuffix(SEAL))
        try:
            if not entry.exists():
                seal_path.unlink(missing_ok=True)
                continue
            recorded = seal_path.read_text().split()
            if recorded[1:] == _stamp(entry):
                continue
            if not recorded or recorded[0] != _sha256(entry):
                _drop(entry)
                dropped.append(entry)
            else:
                _write_seal(entry)  # same bytes, new stamp (copied, or sealed by 0.2)
        except OSError:  # removed meanwhile by another process's trim: nothing to check
            continue
    for entry in folder.glob("*.pb"):
        if not _seal_path(entry).exists():
            _drop(entry)
            dropped.append(entry)
    return dropped


def snapshot(folder: Path) -> Snapshot:
    """The entries in ``folder`` now, to tell later which ones appeared (:func:`seal`)."""
    found: Snapshot = {}
    for entry in folder.glob("*.pb"):
        try:
            stat = entry.stat()
        except OSError:
            continue
        found[entry.name] = (stat.st_ino, stat.st_mtime_ns)
    return found


def seal(folder: Path, before: Mapping[str, tuple[int, int]]) -> None:
    """Seal the unsealed entries that appeared since ``before`` (:func:`snapshot`).

    TensorFlow writes an entry to a temporary file and renames it into place, so one that
    appeared while this process ran is whole. One that was there before and has no seal is
    not this process's to vouch for: the next start drops it.
    """
    for entry in folder.glob("*.pb"):
        try:
            stat = entry.stat()
            if (stat.st_ino, stat.st_mtime_ns) == before.get(entry.name):
                continue
            if not _seal_path(entry).exists():
                _write_seal(entry)
        except OSError:
            continue


def _stamp(entry: Path) -> list[str]:
    stat = entry.stat()
    return [str(stat.st_size), str(stat.st_mtime_ns)]


def _seal_path(entry: Path) -> Path:
    return entry.with_name(entry.name + SEAL)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _write_seal(entry: Path) -> None:
    # TensorFlow renames a finished entry into place, so what is visible is whole; the seal
    # is published beside it the same way (its temporary name holds ".tmp", which trim()
    # clears if a writer dies).
    from dltrain.storage.atomic import atomic_write_text

    # The seal: "<sha256> <size> <mtime_ns>"; the stamp lets check() skip unchanged entries.
    stamp = _stamp(entry)
    atomic_write_text(_seal_path(entry), " ".join([_sha256(entry), *stamp]) + "\n")


def _drop(path: Path) -> None:
    path.unlink(missing_ok=True)
    if path.suffix == ".pb":
        _seal_path(path).unlink(missing_ok=True)


def _unusable(folder: Path) -> str | None:
    """Why TensorFlow could not store entries in ``folder`` (``None``: it can)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A real write, not os.access: root passes os.access on a read-only mount's folders.
        # The probe's name holds ".tmp", which trim() clears if this process dies here.
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", suffix=".tmp") as probe:
            probe.write(b"x")
            probe.flush()
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return f"cannot write there ({exc.strerror or exc})"
    if free < MIN_FREE_BYTES:
        return (
            f"only {free / (1 << 20):.1f} MiB free there, "
            f"below the {MIN_FREE_BYTES >> 20} MiB the cache needs"
        )
    return None


@contextmanager
def xla_cache(
    env: MutableMapping[str, str] | None = None, folder: Path | None = None
) -> Iterator[CacheState]:
    """Point TensorFlow's persistent XLA cache at ``folder`` (default :func:`cache_dir`).

    Yields a :class:`CacheState`: its ``folder`` is ``None`` when the cache is off, the user
    set their own, or the folder cannot be used (then ``reason`` says why); compilation then
    simply happens every time.
    """
    env = os.environ if env is None else env
    before = env.get("TF_XLA_FLAGS")
    folder = folder or cache_dir(env)
    # TF_XLA_FLAGS is split on spaces: a folder whose path has one cannot be named there.
    if folder is None or FLAG in (before or "") or " " in str(folder):
        yield CacheState()
        return
    reason = _unusable(folder)
    if reason is None:
        try:
            trim(folder)
            check(folder)
            present = snapshot(folder)
        except OSError as exc:
            reason = f"cannot check its entries ({exc.strerror or exc})"
    if reason is not None:
        yield CacheState(unusable=folder, reason=reason)
        return
    env["TF_XLA_FLAGS"] = f"{before or ''} {FLAG}={folder}".strip()
    try:
        yield CacheState(folder=folder)
    finally:
        _restore(env, "TF_XLA_FLAGS", before)
        try:
            seal(folder, present)
        except OSError:
            pass  # left unsealed: the next start drops them and compiles them again


@contextmanager
def xla_environment(env: MutableMapping[str, str] | None = None) -> Iterator[CacheState]:
    """The CLI's TensorFlow settings for the block: oneDNN kernels (TensorFlow's own on x86-64,
    and XLA's matrix products), and the compilation cache.

    A variable the environment already sets is left as it is. The cache is kept per value of
    ``XLA_FLAGS`` (a subfolder named by its digest), so a program compiled under other flags
    is never loaded. Yields the :class:`CacheState`.
    """
    env = os.environ if env is None else env
    before = env.get("XLA_FLAGS")
    tf_before = env.get(TF_ONEDNN)
    if tf_before is None and platform.machine().lower() in {"x86_64", "amd64"}:
        env[TF_ONEDNN] = "1"
    if "xla_cpu_use_onednn" not in (before or ""):
        env["XLA_FLAGS"] = f"{before or ''} {ONEDNN}".strip()
    digest = hashlib.sha256(env["XLA_FLAGS"].encode()).hexdigest()[:12]
    root = cache_dir(env)
    try:
        with xla_cache(env, root / f"flags-{digest}" if root else None) as state:
            yield state
    finally:
        _restore(env, "XLA_FLAGS", before)
        _restore(env, TF_ONEDNN, tf_before)


def _restore(env: MutableMapping[str, str], name: str, value: str | None) -> None:
    if value is None:
        env.pop(name, None)
    else:
        env[name] = value
