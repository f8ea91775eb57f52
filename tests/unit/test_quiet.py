"""QuietOutput: the CLI's process-wide output settings are scoped and put back (no TensorFlow)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest

from dltrain.runtime.quiet import QuietOutput, attach_logs


def test_everything_changed_is_put_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    keras_logger = logging.getLogger("keras")
    mine = logging.StreamHandler()
    keras_logger.addHandler(mine)
    try:
        before = (list(keras_logger.handlers), keras_logger.propagate)
        with QuietOutput() as quiet:
            assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
            assert mine not in keras_logger.handlers
            quiet.attach(tmp_path)
            with warnings.catch_warnings():
                warnings.simplefilter("always")  # pytest turns warnings into errors
                warnings.warn("library noise", UserWarning, stacklevel=1)
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        assert (list(keras_logger.handlers), keras_logger.propagate) == before
        assert "library noise" in (tmp_path / "logs" / "warnings.log").read_text()
        with pytest.warns(UserWarning):  # warnings are warnings again afterwards
            warnings.warn("after", UserWarning, stacklevel=1)
    finally:
        keras_logger.removeHandler(mine)


def test_disabled_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with QuietOutput(enabled=False) as quiet:
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        quiet.attach(Path("/nonexistent"))  # nothing to move


def test_tensorflow_finds_a_root_handler_and_each_trial_gets_its_own_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault probe L10 / newcomer 9: TensorFlow adds a stderr handler to its logger unless the
    root logger has one, so its deprecation notices reached the terminal; a study's trials had
    no logs/."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # a plain `dltrain` process (pytest adds one)
    tf_logger = logging.getLogger("tensorflow")
    with QuietOutput(native=False):
        assert root.handlers  # tf_logging.get_logger() then adds no StreamHandler
        attach_logs(tmp_path / "trial-0000")
        tf_logger.warning("Instructions for updating: trial 0")
        attach_logs(tmp_path / "trial-0001")
        tf_logger.warning("Instructions for updating: trial 1")
    assert root.handlers == []
    first = (tmp_path / "trial-0000" / "logs" / "warnings.log").read_text()
    second = (tmp_path / "trial-0001" / "logs" / "warnings.log").read_text()
    assert "trial 0" in first and "trial 1" not in first
    assert "trial 1" in second and "trial 0" not in second
    attach_logs(tmp_path / "after")  # no command's output is active: nothing happens
    assert not (tmp_path / "after").exists()


def test_runs_sweeps_a_killed_processs_native_log(tmp_path: Path) -> None:
    # fault-probes-2 (cosmetic): a dead process's /tmp/dltrain-native-*.log stayed until the
    # next TensorFlow command; `dltrain runs` (no TensorFlow) sweeps it too.
    import subprocess
    import sys
    import tempfile

    from typer.testing import CliRunner

    from dltrain.cli import app

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    orphan = Path(tempfile.gettempdir()) / f"dltrain-native-{child.pid}-test.log"
    orphan.write_text("native log of a killed run\n")
    alive = Path(tempfile.gettempdir()) / f"dltrain-native-{os.getpid()}-test.log"
    alive.write_text("this process is alive\n")
    try:
        result = CliRunner().invoke(app, ["runs", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert not orphan.exists() and alive.exists()
    finally:
        orphan.unlink(missing_ok=True)
        alive.unlink(missing_ok=True)
