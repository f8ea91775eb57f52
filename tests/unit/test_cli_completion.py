"""Shell completion (Typer's): installable, and it completes commands without TensorFlow."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys


def _dltrain(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = "import sys; sys.argv[0] = 'dltrain'; from dltrain.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _from_bash(*args: str) -> subprocess.CompletedProcess[str]:
    """``dltrain ARGS`` started by bash, as a user types it: ``--show-completion`` finds the
    shell among its parent processes (shellingham), which a test runner's workers may lack."""
    code = "import sys; sys.argv[0] = 'dltrain'; from dltrain.cli import main; main()"
    command = " ".join(shlex.quote(a) for a in (sys.executable, "-c", code, *args))
    # `; true` keeps bash as the parent (bash would exec a lone command in its place).
    return subprocess.run(
        ["bash", "-c", f"{command}; status=$?; true; exit $status"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_completion_script_and_command_names() -> None:
    script = _from_bash("--show-completion")
    assert script.returncode == 0 and "_dltrain_completion" in script.stdout
    completed = _dltrain(
        env={"_DLTRAIN_COMPLETE": "complete_bash", "COMP_WORDS": "dltrain ru", "COMP_CWORD": "1"}
    )
    assert completed.returncode == 0, completed.stderr
    assert set(completed.stdout.split()) == {"run", "runs"}
