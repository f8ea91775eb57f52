"""Run the CLI in a fresh interpreter and report which heavy modules it imported."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

__all__ = ["EXPORT_NOISE", "killed_after_epoch_one", "run_probe"]

EXPORT_NOISE = [
    # tf2onnx and TensorFlow's converter use deprecated NumPy/TF names; the noise is theirs.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tf2onnx.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:tf2onnx.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:tensorflow.*"),
]
"""The warnings the export tests let through (``pytestmark = [..., *EXPORT_NOISE]``)."""

PROBE = """
import sys
from dltrain.cli import main
sys.argv = ["dltrain", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = sorted(m for m in ("tensorflow", "keras", "matplotlib") if m in sys.modules)
sys.stderr.write("\\nHEAVY=" + ",".join(heavy) + "\\n")
sys.exit(code)
"""


def run_probe(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


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
