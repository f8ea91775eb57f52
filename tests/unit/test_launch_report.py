"""What ``dltrain launch`` says: the workers it started, a pipe given as config, an interruption
that reached the workers only (issue 25 N10 and fault-probes-2's launch nits)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from datagen import TINY_MLP
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine import launch

runner = CliRunner()


def _config(tmp_path: Path, mnist_npz: Path) -> Path:
    config = tmp_path / "mw.yaml"
    config.write_text("name: mw\n" + TINY_MLP.format(path=mnist_npz))
    return config


def _workers_exit_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int) -> None:
    """Each "worker" is a tiny Python process that exits with ``code`` (no TensorFlow)."""

    def popen(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        assert command[1:4] == ["-m", "dltrain", "run"]
        proc = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"], **kwargs)
        # Each has exited before the launcher looks: on a loaded machine the first could
        # otherwise fail while the second still starts, and be stopped by the launcher
        # (exit codes [2, -15], not the [2, 2] these tests are about).
        proc.wait()
        return proc

    fake = SimpleNamespace(
        Popen=popen, STDOUT=subprocess.STDOUT, TimeoutExpired=subprocess.TimeoutExpired
    )
    monkeypatch.setattr(launch, "subprocess", fake)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()


def test_workers_stopped_by_their_own_signal_end_the_job_interrupted(
    mnist_npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C that reached the workers but not the launcher (SIGINT ignored, as in a
    script's background job) said "a worker failed (exit codes [130, 130])", exit 130 wanted."""
    _workers_exit_with(monkeypatch, tmp_path, 130)
    result = runner.invoke(app, ["launch", "--workers", "2", str(_config(tmp_path, mnist_npz))])
    assert result.exit_code == 130, result.output
    assert "a worker failed" not in result.output
    assert f"stopped by {launch.WORKERS_SIGNALLED}" in result.output
    assert "exit codes [130, 130]" in result.output
    (kept,) = (tmp_path / "tmp").iterdir()  # as after a launcher's SIGINT: kept, and named
    assert f"worker logs: {kept}" in result.output


def test_launch_names_each_worker_it_starts_and_keeps_logs_of_a_failure(
    mnist_npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _workers_exit_with(monkeypatch, tmp_path, 2)
    result = runner.invoke(app, ["launch", "--workers", "2", str(_config(tmp_path, mnist_npz))])
    assert result.exit_code == 2, result.output
    assert "a worker failed (exit codes [2, 2])" in result.output
    (kept,) = (tmp_path / "tmp").iterdir()
    lines = [line for line in result.output.splitlines() if line.startswith("launch: worker")]
    assert len(lines) == 2, result.output
    assert lines[0].startswith("launch: worker 0 (chief): pid ") and "127.0.0.1:" in lines[0]
    assert lines[0].endswith("output here")
    assert lines[1].startswith("launch: worker 1: pid ") and "127.0.0.1:" in lines[1]
    assert lines[1].endswith(f"log {kept / 'worker-1.log'}")
    assert f"worker logs: {kept}" in result.output


def test_a_config_that_is_a_pipe_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    result = runner.invoke(app, ["launch", str(fifo)])
    assert result.exit_code == 2, result.output
    assert "not a regular file" in result.output and "no such" not in result.output
    missing = runner.invoke(app, ["launch", str(tmp_path / "missing.yaml")])
    assert missing.exit_code == 2 and "no such file" in missing.output, missing.output
