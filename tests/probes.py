"""Run the CLI in a fresh interpreter and report which heavy modules it imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["run_probe"]

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
