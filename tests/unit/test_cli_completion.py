"""Shell completion (Typer's): installable, and it completes commands without TensorFlow."""

from __future__ import annotations

import os
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


def test_completion_script_and_command_names() -> None:
    script = _dltrain("--show-completion", "bash")
    assert script.returncode == 0 and "_dltrain_completion" in script.stdout
    completed = _dltrain(
        env={"_DLTRAIN_COMPLETE": "complete_bash", "COMP_WORDS": "dltrain ru", "COMP_CWORD": "1"}
    )
    assert completed.returncode == 0, completed.stderr
    assert set(completed.stdout.split()) == {"run", "runs"}
