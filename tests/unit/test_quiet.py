"""QuietOutput: the CLI's process-wide output settings are scoped and put back (no TensorFlow)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest

from dltrain.runtime.quiet import QuietOutput


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
