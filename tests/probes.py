"""Run the CLI in a fresh interpreter and report which heavy modules it imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

__all__ = ["EXPORT_NOISE", "killed_after_epoch_one", "run_each", "run_probe"]

EXPORT_NOISE = [
    # tf2onnx and TensorFlow's converter use deprecated NumPy/TF names; the noise is theirs.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tf2onnx.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:tf2onnx.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:tensorflow.*"),
]
"""The warnings the export tests let through (``pytestmark = [..., *EXPORT_NOISE]``)."""

_MAIN = """
import json
import sys
from dltrain.cli import main


def run(args):
    sys.argv = ["dltrain", *args]
    try:
        main()
    except SystemExit as exc:
        return exc.code
    return 0


def heavy():
    return sorted(m for m in ("tensorflow", "keras", "matplotlib") if m in sys.modules)
"""
PROBE = _MAIN + """
code = run(sys.argv[1:])
sys.stderr.write("\\nHEAVY=" + ",".join(heavy()) + "\\n")
sys.exit(code)
"""
EACH = _MAIN + """
seen = [[args, run(args), heavy()] for args in json.loads(sys.argv[1])]
sys.stderr.write("\\nSEEN=" + json.dumps(seen) + "\\n")
"""


def run_probe(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def run_each(commands: list[list[str]]) -> list[list[object]]:
    """The commands run in turn by one interpreter: ``[args, exit code, heavy modules loaded
    so far]`` each. Imports only accumulate, so the first command that imported a heavy
    module is the first whose list is not empty."""
    proc = subprocess.run(
        [sys.executable, "-c", EACH, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "SEEN=" in proc.stderr, proc.stderr
    seen: list[list[object]] = json.loads(proc.stderr.rsplit("SEEN=", 1)[1])
    return seen


def killed_after_epoch_one(config: Path, runs: Path, name: str, timeout: float = 180) -> Path:
    """``dltrain run CONFIG`` in a subprocess, SIGKILLed once epoch 1's resume point exists.

    Returns the run folder it left (``runs/NAME/<stamp>``), as a crash leaves it.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "dltrain", "run", str(config), "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CI": "1"},
    )
    deadline = time.monotonic() + timeout
    while not list(runs.glob(f"{name}/*/checkpoints/resume/epoch-00001")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "epoch 1 never finished"
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.communicate()
    return next(runs.glob(f"{name}/*"))
