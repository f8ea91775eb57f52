"""``launch_workers``: try multi-worker training on one machine (N local processes)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dltrain.errors import UsageError

__all__ = ["LaunchResult", "free_ports", "launch_workers"]


@dataclass
class LaunchResult:
    """Exit codes of the workers, and where the non-chief workers' logs are (on failure)."""

    exit_codes: list[int]
    logs: Path | None

    @property
    def exit_code(self) -> int:
        """0 when every worker succeeded, else the first failing worker's code."""
        return next((code for code in self.exit_codes if code != 0), 0)


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


def launch_workers(
    config: Path,
    workers: int,
    run_args: Sequence[str] = (),
) -> LaunchResult:
    """Start ``workers`` local ``dltrain run`` processes forming one ``TF_CONFIG`` cluster.

    Worker 0 is the chief: its output is this process's output and it alone writes the run
    folder. The others log to a temporary folder, kept (and returned) only if one fails.

    Raises:
        UsageError: fewer than 1 worker, or a missing config file.
    """
    if workers < 1:
        raise UsageError(f"--workers must be at least 1; received {workers}")
    if not config.is_file():
        raise UsageError(f"{config}: no such config file")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    logs = Path(tempfile.mkdtemp(prefix="dltrain-launch-"))
    command = [
        sys.executable,
        "-m",
        "dltrain",
        "run",
        str(config),
        "--set",
        "distribute.strategy=multi_worker_mirrored",
        *run_args,
    ]
    procs: list[subprocess.Popen[bytes]] = []
    handles = []
    try:
        for index in range(workers):
            env = {
                **os.environ,
                "TF_CONFIG": json.dumps(
                    {"cluster": cluster, "task": {"type": "worker", "index": index}}
                ),
            }
            if index == 0:
                procs.append(subprocess.Popen(command, env=env))
            else:
                handle = (logs / f"worker-{index}.log").open("wb")
                handles.append(handle)
                procs.append(
                    subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
                )
        codes = [proc.wait() for proc in procs]
    except KeyboardInterrupt:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = [proc.wait() for proc in procs]
    finally:
        for handle in handles:
            handle.close()
    result = LaunchResult(codes, logs)
    if result.exit_code == 0:
        shutil.rmtree(logs, ignore_errors=True)
        result.logs = None
    return result
