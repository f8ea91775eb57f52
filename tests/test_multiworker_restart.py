"""Multi-worker runs that lose a worker: `launch` restarts them, `--resume` continues them.

A worker is killed from outside with SIGKILL (as the OOM killer or a preempted machine does)
once the run's metrics.csv has two epochs; nothing in dltrain knows about the test. The checks
that start no worker are in tests/unit/test_launch.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datagen import tiny_mlp

# Small batches make an epoch last long enough (~25 collective steps) to kill a worker in
# epoch 3; six epochs as the issue asks.
CONFIG = tiny_mlp(name="mw", epochs=6, batch_size=8) + "output: {{plots: false}}\n"


@pytest.fixture
def config(tmp_path: Path, mnist_npz: Path) -> Path:
    path = tmp_path / "mw.yaml"
    path.write_text(CONFIG.format(path=mnist_npz))
    return path


def _launch(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {**os.environ, "CI": "1", "TMPDIR": str(scratch)}
    return subprocess.Popen(
        [sys.executable, "-m", "dltrain", "launch", "--workers", "2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _worker_pid(parent: int, index: int) -> int:
    """The pid of ``launch``'s worker ``index`` (its TF_CONFIG task), found through /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid != parent:
            continue
        for item in environ:
            if item.startswith(b"TF_CONFIG="):
                if json.loads(item[len(b"TF_CONFIG=") :])["task"]["index"] == index:
                    return int(entry.name)
    raise AssertionError(f"no worker {index} under pid {parent}")


def _rows(run_dir: Path) -> list[dict[str, str]]:
    try:
        return list(csv.DictReader(io.StringIO((run_dir / "metrics.csv").read_text())))
    except OSError:
        return []


def _epochs(run_dir: Path) -> int:
    """Epochs the run recorded (run.json is updated after the epoch's resume point)."""
    return int(json.loads((run_dir / "run.json").read_text()).get("epochs_completed") or 0)


def _kill_after_epoch(proc: subprocess.Popen[str], runs: Path, epoch: int, index: int) -> Path:
    """SIGKILL worker ``index`` once the run has ``epoch`` epochs; the run folder."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        found = list(runs.glob("mw/*/run.json"))
        if found and _epochs(found[0].parent) >= epoch:
            os.kill(_worker_pid(proc.pid, index), signal.SIGKILL)
            assert _epochs(found[0].parent) < 6, "the run ended before the kill"
            return found[0].parent
        time.sleep(0.05)
    raise AssertionError("epoch 2 never landed")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def _assert_completed(run_dir: Path) -> dict[str, object]:
    assert [int(r["epoch"]) for r in _rows(run_dir)] == [1, 2, 3, 4, 5, 6]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == 6
    assert (run_dir / "checkpoints" / "best.keras").is_file()
    assert "test" in manifest["final_metrics"]
    return manifest


@pytest.mark.slow
def test_a_lost_worker_stops_the_job_or_restarts_it_and_the_run_completes(
    config: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    # Without restarts: the chief is killed in epoch 3; launch stops worker 1 and exits 1.
    proc = _launch(tmp_path, str(config), "--runs-dir", str(runs), "--max-restarts", "0")
    run_dir = _kill_after_epoch(proc, runs, epoch=2, index=0)
    code, out = _finish(proc)
    assert code == 1, out
    assert "worker 0" in out and "SIGKILL" in out
    assert f"--resume {run_dir}" in out
    # The failed launch keeps its workers' logs (and nothing else) and says where.
    (kept,) = (tmp_path / "tmp").glob("dltrain-launch-*")
    assert f"worker logs: {kept}" in out
    assert [p.name for p in kept.iterdir()] == ["worker-1.log"]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] != "completed" and manifest["restarts"] == []

    # Every worker is gone: `launch --resume` restarts them all from the chief's resume point;
    # worker 1 is killed in epoch 5 and launch restarts the job once more, in the same folder.
    proc = _launch(tmp_path, "--resume", str(run_dir), "--max-restarts", "1")
    _kill_after_epoch(proc, runs, epoch=4, index=1)
    code, out = _finish(proc)
    assert code == 0, out
    assert "restart 1 of 1" in out
    assert len(list(runs.rglob("run.json"))) == 1  # one run folder, continued in place
    manifest = _assert_completed(run_dir)
    (restart,) = manifest["restarts"]  # type: ignore[misc]
    assert restart["attempt"] == 1 and restart["from_epoch"] >= 4
    assert "worker 1" in restart["reason"] and "SIGKILL" in restart["reason"]
    first, second = manifest["resumes"]  # type: ignore[misc]
    assert 2 <= first["from_epoch"] < 4 <= second["from_epoch"]
    assert manifest["workers"] == first["workers"] == second["workers"] == 2
    # Killed workers' temporary folders went with the launcher's, which succeeded this time.
    assert list((tmp_path / "tmp").glob("dltrain-*")) == [kept]


@pytest.mark.slow
def test_sigterm_to_launch_stops_its_workers_and_leaves_the_run_resumable(
    config: Path, tmp_path: Path
) -> None:
    """Fault probe M4: SIGTERM killed the launcher alone; its workers trained on as orphans."""
    runs = tmp_path / "runs"
    proc = _launch(tmp_path, str(config), "--runs-dir", str(runs))
    deadline = time.monotonic() + 240
    while not list(runs.glob("mw/*/checkpoints/resume/epoch-*")):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "no resume point appeared"
        time.sleep(0.05)
    workers = [_worker_pid(proc.pid, index) for index in (0, 1)]
    proc.send_signal(signal.SIGTERM)
    code, out = _finish(proc)
    assert code == 130, out
    assert "stopped by SIGTERM" in out and "--resume" in out, out
    for pid in workers:  # stopped and reaped by the launcher, not orphaned
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    (run_dir,) = runs.glob("mw/*")
    assert f"--resume {run_dir}" in out
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "interrupted", manifest["status"]
    assert manifest["epochs_completed"] < 6
    assert list((run_dir / "checkpoints" / "resume").glob("epoch-*"))
    # The workers' temporary folders went with them (worker 1's log is kept, and named).
    (kept,) = (tmp_path / "tmp").glob("dltrain-launch-*")
    assert [p.name for p in kept.iterdir()] == ["worker-1.log"]
