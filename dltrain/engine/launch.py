"""``launch_workers``: multi-worker training with N local processes, restarted when one is lost.

Each attempt starts N ``dltrain run`` processes forming one ``TF_CONFIG`` cluster on free ports
of 127.0.0.1 and supervises them. When one dies (killed, OOM-killed: any death by a signal),
the others are stopped (SIGTERM, then SIGKILL after a grace period: a survivor is usually
blocked in a collective op with its dead peer) and, while restarts are left, the job starts
again with ``dltrain run --resume RUN`` on every worker, from the last epoch every worker
completed. Each restart is recorded in the run's ``run.json`` (``restarts``).

Ctrl-C or SIGTERM to the launcher is passed on to every worker, which stop as a single run
does (``interrupted``, resumable); the launcher waits for them and reports the signal. Workers
that all stop with 130 (interrupted) by a signal sent to them alone (a Ctrl-C reaching the
process group while the launcher ignores SIGINT, as a background job of a script does) end the
job the same way: interrupted, exit 130.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dltrain.errors import DltrainError, UsageError
from dltrain.storage import RunFolder, utc_now
from dltrain.storage.manifest import MANIFEST, RestartRecord, read_manifest

__all__ = ["WORKERS_SIGNALLED", "LaunchResult", "free_ports", "launch_workers", "usable_cores"]

_POLL_S = 0.2
_INTERRUPTED = 130
"""``dltrain run``'s exit code when a signal stopped it (the run is ``interrupted``)."""
WORKERS_SIGNALLED = "a signal to the workers"
""":attr:`LaunchResult.interrupted` when the workers, not the launcher, received the signal."""


@dataclass
class LaunchResult:
    """How the job ended: the last attempt's exit codes, its run folder, its restarts."""

    exit_codes: list[int]
    logs: Path | None
    run_dir: Path | None = None
    restarts: list[RestartRecord] = field(default_factory=list)
    lost: str | None = None
    """Set when the last attempt ended because a worker was lost (and no restart was left)."""
    interrupted: str | None = None
    """``SIGINT`` or ``SIGTERM`` when the launcher was stopped (its workers were stopped too),
    or :data:`WORKERS_SIGNALLED` when the workers were stopped by a signal sent to them."""

    @property
    def exit_code(self) -> int:
        """130 when stopped by a signal; 0 when every worker succeeded; 1 for a lost worker;
        else the first failing code."""
        if self.interrupted is not None:
            return 130
        if self.lost is not None:
            return 1
        return next((code for code in self.exit_codes if code != 0), 0)


@dataclass
class _Attempt:
    codes: list[int]
    pids: list[int]
    first_failed: int | None
    """Index of the first worker that exited non-zero (the cause), None when all succeeded."""
    interrupted: str | None = None
    """Ctrl-C or SIGTERM (the signal's name): the workers were asked to stop; nothing is
    restarted."""


class _Terminated(BaseException):
    """SIGTERM reached the launcher; raised like KeyboardInterrupt so both stop the same way."""


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that are free right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def describe_exit(index: int, pid: int, code: int) -> str:
    """``worker 1 (pid 4242) killed by SIGKILL`` / ``... exited with 1``."""
    if code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exited with {code}"
    return f"worker {index} (pid {pid}) {how}"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def launch_workers(
    config: Path | None,
    workers: int,
    overrides: Sequence[str] = (),
    *,
    runs_dir: Path | None = None,
    resume: Path | None = None,
    force: bool = False,
    max_restarts: int = 0,
    grace_s: float = 10.0,
    report: Callable[[str], None] = lambda text: None,
    trust_imports: bool = False,
) -> LaunchResult:
    """Train with ``workers`` local processes; restart the job up to ``max_restarts`` times.

    Worker 0 is the chief: its output is this process's output and it alone writes the run
    folder. The others log to a temporary folder, kept (and returned) only if the job does not
    complete (a failure or an interruption: they show where each worker was).
    ``resume`` continues that run folder instead of starting one from ``config``.
    ``report`` receives one line per event (each worker started: index, pid, address, log
    file; a lost worker; a restart). ``trust_imports``
    lets the workers of a resumed run import its plugins from where it recorded them.
    ``force`` accepts a resumed run's config changes, and more workers than CPU cores.

    Raises:
        UsageError: fewer than 1 worker, more than :func:`usable_cores` (at least 2) without
            ``force``, a negative ``max_restarts``, neither or both of
            ``config`` and ``resume``, or a run to resume that was not a multi-worker run.
        ConfigError: the config is missing, not a regular file, or invalid (it is read to find
            where the run folder will be).
        CheckpointError: ``resume`` is not a readable run folder.
    """
    if workers < 1:
        raise UsageError(f"--workers must be at least 1; received {workers}")
    allowed = max(usable_cores(), 2)  # the default of 2 works on any machine
    if workers > allowed and not force:
        raise UsageError(
            f"--workers {workers} is more than the {usable_cores()} CPU core(s) this process "
            f"may use; each worker is a TensorFlow process (memory and threads of its own): "
            f"use --workers {allowed} or fewer, or add --force to start {workers} anyway"
        )
    if max_restarts < 0:
        raise UsageError(f"--max-restarts must be 0 or more; received {max_restarts}")
    if (config is None) == (resume is None):
        raise UsageError("give a CONFIG file, or --resume RUN_FOLDER (not both)")
    runs_root: Path | None = None
    if config is not None:
        runs_root = _runs_root(config, overrides, runs_dir)
    elif resume is not None:
        strategy = RunFolder.open(resume).manifest.distribute  # or CheckpointError now
        if strategy != "multi_worker_mirrored":
            raise UsageError(
                f"{resume}: trained with distribute.strategy {strategy}, not "
                "multi_worker_mirrored; continue it with: dltrain run --resume RUN"
            )
    logs = Path(tempfile.mkdtemp(prefix="dltrain-launch-"))
    result = LaunchResult([], logs, resume)
    while True:
        if result.run_dir is None:
            assert config is not None
            args = [str(config), "--set", "distribute.strategy=multi_worker_mirrored"]
            args += [a for item in overrides for a in ("--set", item)]
            args += ["--runs-dir", str(runs_dir)] if runs_dir is not None else []
        else:
            # A restart of a new run resumes it as saved (config.yaml has its overrides); a
            # resumed one is resumed again with the changes it was asked for.
            args = ["--resume", str(result.run_dir)]
            # A run this launcher started imported its plugins from the user's own config;
            # their recorded hashes are still checked (docs/extending.md).
            args += ["--trust-imports"] if resume is None or trust_imports else []
            if resume is not None:
                args += [a for item in overrides for a in ("--set", item)]
                args += ["--force"] if force else []
        attempt = _run_attempt(["run", *args], workers, logs, grace_s, report)
        result.exit_codes = attempt.codes
        if attempt.interrupted:
            result.interrupted = attempt.interrupted
            if result.run_dir is None and runs_root is not None:
                result.run_dir = _run_of(runs_root, attempt.pids[0])
            break
        if attempt.first_failed is None:
            break
        index = attempt.first_failed
        code = attempt.codes[index]
        if code >= 0:
            break  # a worker's own error (bad config, diverged training): a restart repeats it
        result.lost = describe_exit(index, attempt.pids[index], code)
        if result.run_dir is None and runs_root is not None:
            result.run_dir = _run_of(runs_root, attempt.pids[0])
        done = _epochs_done(result.run_dir)
        report(f"{result.lost}; the other workers were stopped")
        if len(result.restarts) >= max_restarts:
            break
        record = RestartRecord(
            at=utc_now().isoformat(),
            attempt=len(result.restarts) + 1,
            from_epoch=done,
            reason=result.lost,
            workers=workers,
        )
        result.restarts.append(record)
        if result.run_dir is not None:
            _record_restart(result.run_dir, record)
        report(
            f"restart {record.attempt} of {max_restarts}: "
            + (f"resuming {result.run_dir} from epoch {done}" if result.run_dir else "anew")
        )
        result.lost = None
    if result.exit_code == 0:
        shutil.rmtree(logs, ignore_errors=True)
        result.logs = None
    return result


def _runs_root(config: Path, overrides: Sequence[str], runs_dir: Path | None) -> Path:
    """Where the chief will create the run folder: ``<runs dir>/<name>``."""
    from dltrain.config import load_config

    cfg = load_config(config, overrides).config
    return Path(runs_dir or cfg.output.runs_dir or "runs") / cfg.name


def _run_of(runs_root: Path, chief_pid: int) -> Path | None:
    """The run folder the chief (``chief_pid``) created, or None when it made none yet."""
    found: list[Path] = []
    for manifest in runs_root.glob(f"*/{MANIFEST}"):
        try:
            if read_manifest(manifest).pid == chief_pid:
                found.append(manifest.parent)
        except DltrainError:
            continue  # a half-written or foreign folder is not this run
    return max(found, default=None, key=lambda p: p.name)


def _epochs_done(run_dir: Path | None) -> int:
    if run_dir is None:
        return 0
    from dltrain.storage import latest_resume_point

    try:
        point = latest_resume_point(run_dir / "checkpoints")
    except DltrainError:
        return 0
    return point.epochs_completed if point else 0


def _record_restart(run_dir: Path, record: RestartRecord) -> None:
    """Append ``record`` to ``run.json``'s ``restarts`` (no worker runs now)."""
    run = RunFolder.open(run_dir)
    run.take_lock()
    try:
        run.update(restarts=[*run.manifest.restarts, record])
    finally:
        run.release()


def _run_attempt(
    args: list[str],
    workers: int,
    logs: Path,
    grace_s: float,
    report: Callable[[str], None] = lambda text: None,
) -> _Attempt:
    """Start the workers, wait for all of them, and stop the rest as soon as one fails.

    ``report`` gets one line per worker started: its index, pid, address and where it logs.
    """
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    command = [sys.executable, "-m", "dltrain", *args]
    procs: list[subprocess.Popen[bytes]] = []
    handles = []
    stopped: list[int] = []
    interrupted: str | None = None
    # SIGTERM (an orchestrator's stop) must not orphan the workers: it stops them as Ctrl-C
    # does. Only the main thread may set handlers (the Python API may run elsewhere).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main else None
    try:
        for index in range(workers):
            task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            # Temporary files (a non-chief's run folder, TensorFlow's) go under the launch's
            # folder: a killed worker cannot remove its own, the launcher removes them all.
            tmp = logs / f"tmp-{index}"
            tmp.mkdir(exist_ok=True)
            env = {**os.environ, "TF_CONFIG": json.dumps(task), "TMPDIR": str(tmp)}
            address = cluster["worker"][index]
            if index == 0:
                procs.append(subprocess.Popen(command, env=env))
                report(f"worker 0 (chief): pid {procs[-1].pid}, {address}, output here")
                continue
            log = logs / f"worker-{index}.log"
            handle = log.open("ab")
            handles.append(handle)
            procs.append(
                subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
            )
            report(f"worker {index}: pid {procs[-1].pid}, {address}, log {log}")
        while any(proc.poll() is None for proc in procs):
            if any(proc.returncode not in (None, 0) for proc in procs):
                stopped = [i for i, proc in enumerate(procs) if proc.returncode is None]
                _stop(procs, grace_s)
                break
            time.sleep(_POLL_S)
    except (KeyboardInterrupt, _Terminated) as stop:
        received = signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT
        interrupted = received.name
        if main:  # the workers are told once; a repeated SIGTERM changes nothing
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(received)
        for proc in procs:
            proc.wait()
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        for handle in handles:
            handle.close()
    codes = [proc.wait() for proc in procs]
    for index in range(workers):
        shutil.rmtree(logs / f"tmp-{index}", ignore_errors=True)
    # The cause is a worker this launcher did not stop; one killed from outside (SIGKILL by
    # the OOM killer, a preemption) before one that failed because its peer was gone.
    failed = [i for i, code in enumerate(codes) if code != 0 and i not in stopped]
    killed = [i for i in failed if codes[i] < 0]
    first_failed = (killed or failed)[0] if failed else None
    if interrupted is None and failed and all(codes[i] == _INTERRUPTED for i in failed):
        # Each failing worker says it was interrupted: a signal reached them, not the launcher
        # (which a script's background job runs with SIGINT ignored). Not a failure.
        interrupted = WORKERS_SIGNALLED
    return _Attempt(codes, [proc.pid for proc in procs], first_failed, interrupted)


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _stop(procs: Sequence[subprocess.Popen[bytes]], grace_s: float) -> None:
    """SIGTERM the running workers (a clean stop if they can), SIGKILL those still running."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
