"""Faults around a run folder that need no training: locks, stale runs, signals, full disks."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.errors import DiskFullError, RunFolderError
from dltrain.report.listing import STALE, list_runs
from dltrain.storage import RunFolder
from dltrain.storage.lock import RunLock
from dltrain.storage.writing import writing

runner = CliRunner()


def running_run(tmp_path: Path) -> RunFolder:
    run = RunFolder.create(tmp_path / "runs", "exp")
    run.update(status="running", pid=os.getpid())
    (run.path / "config.yaml").write_text("data: {kind: mnist}\nmodel: {layers: []}\n")
    return run


def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path) -> None:
    run = running_run(tmp_path)  # this process holds its lock
    result = runner.invoke(app, ["run", "--resume", str(run.path)])
    assert result.exit_code == 2, result.output
    assert f"being written by process {os.getpid()}" in result.output
    # The lock is the kernel's: another process is refused too, and a dead holder frees it.
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from dltrain.storage.lock import RunLock; RunLock(Path(sys.argv[1])).acquire()",
         str(run.path)], capture_output=True, text=True,
    )
    assert child.returncode != 0 and f"process {os.getpid()}" in child.stderr
    run.release()
    RunLock(run.path).acquire().release()


def test_dead_runs_are_shown_stale_live_ones_running(tmp_path: Path) -> None:
    live = running_run(tmp_path)
    dead = RunFolder.create(tmp_path / "runs", "exp")
    dead.update(status="running", pid=2**22 + 12345)
    dead.release()  # its process "died": the kernel dropped the lock
    statuses = {r.path: r.status for r in list_runs(tmp_path / "runs")}
    assert statuses[live.path] == "running" and statuses[dead.path] == STALE
    result = runner.invoke(app, ["runs", str(tmp_path / "runs")])
    assert STALE in result.output


def test_sigterm_outside_training_is_recorded_and_stops(tmp_path: Path) -> None:
    run = running_run(tmp_path)
    with pytest.raises(KeyboardInterrupt), writing(run):
        os.kill(os.getpid(), signal.SIGTERM)  # e.g. while the plots are drawn
    manifest = json.loads((run.path / "run.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["error"].startswith("stopped by SIGTERM")
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers put back


def test_a_stop_that_lands_in_a_weakref_callback_is_not_lost(tmp_path: Path) -> None:
    # CI caught it: SIGTERM landed while logging dropped a handler (a weakref callback), where
    # Python prints "Exception ignored" and goes on; the run then completed with exit 0.
    run = running_run(tmp_path)

    class Owner:
        pass

    def callback(ref: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # handled inside this callback: dropped
        sum(range(1000))

    hook = sys.unraisablehook
    with pytest.raises(KeyboardInterrupt), writing(run):
        owner = Owner()
        ref = weakref.ref(owner, callback)
        del owner
        time.sleep(2)  # the stop must come before this ends
        pytest.fail("the stop was lost")
    assert ref() is None
    manifest = json.loads((run.path / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["error"].startswith("stopped by SIGTERM")
    assert sys.unraisablehook is hook  # put back


def test_a_single_ctrl_c_is_not_called_twice(tmp_path: Path) -> None:
    run = running_run(tmp_path)
    with pytest.raises(KeyboardInterrupt), writing(run):
        os.kill(os.getpid(), signal.SIGINT)
    assert "twice" not in json.loads((run.path / "run.json").read_text())["error"]


def test_disk_full_mid_run_is_a_clear_failure_that_can_resume(tmp_path: Path) -> None:
    run = running_run(tmp_path)
    with pytest.raises(DiskFullError) as info, writing(run):
        raise OSError(errno.ENOSPC, "No space left on device", str(run.path / "best.keras"))
    assert "disk full: could not write" in str(info.value) and "--resume" in str(info.value)
    manifest = json.loads((run.path / "run.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"].startswith("disk full")
    assert info.value.exit_code == 1


def test_disk_full_names_the_file_and_sizes_a_small_checkpoint(tmp_path: Path) -> None:
    """Fault probes 2, cosmetic: "could not write a file" (Keras's zip writer names none) and
    "one checkpoint takes 0.0 MiB" for a 35 KB checkpoint."""
    from dltrain.storage.atomic import atomic_write

    run = running_run(tmp_path)
    (run.path / "checkpoints").mkdir(exist_ok=True)
    (run.path / "checkpoints" / "last.keras").write_bytes(b"k" * 35_000)

    def full(tmp: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError) as info, writing(run):
        atomic_write(run.path / "checkpoints" / "best.keras", full)
    message = str(info.value)
    assert "could not write checkpoints/best.keras (" in message
    assert "one checkpoint takes 34.2 KiB" in message and "0.0 MiB" not in message
    assert list((run.path / "checkpoints").iterdir()) == [run.path / "checkpoints" / "last.keras"]


def test_disk_full_at_start_leaves_nothing(tmp_path: Path) -> None:
    run = RunFolder.create(tmp_path / "runs", "exp")  # status "created"
    with pytest.raises(RunFolderError, match="disk full"), writing(run):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not run.path.exists()
