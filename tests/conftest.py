"""Shared fixtures: generated data in temporary folders, and a quiet TensorFlow.

``tests/unit/`` is the fast layer: its tests never import TensorFlow; its own conftest.py fails
a test that does, naming it and the line that imported it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (as on the development sandbox):
# otherwise every pytest-xdist worker and every CLI subprocess a test starts compiles dltrain and
# the test modules again (the unit layer's collection: 3.7 s a process uncached, 1.5 s cached).
sys.dont_write_bytecode = False
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Rendered tables are checked at the CLI's width for captured output (160), whatever terminal
# (or pytest-xdist worker) the tests run from; tests that want a width set COLUMNS themselves.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
# One XLA compilation cache for the session (dltrain.runtime.xla_cache), never the user's own: the
# many runs of the same tiny models compile each step once.
os.environ.setdefault("DLTRAIN_XLA_CACHE", tempfile.mkdtemp(prefix="dltrain-test-xla-"))

from datagen import (  # noqa: E402
    write_classification_csv,
    write_mnist_idx_dir,
    write_mnist_npz,
    write_regression_csv,
)

from dltrain.runtime.xla_cache import xla_environment  # noqa: E402  (no TensorFlow)

_SESSION = ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    # The CLI's XLA settings (oneDNN, the cache above) for the whole session, before anything
    # compiles: TensorFlow reads TF_XLA_FLAGS once per process, at its first compilation, so
    # entered per command they would reach in-process runs or not depending on test order.
    # In-process runs, CLI calls (whose own xla_environment then leaves the flags alone) and
    # subprocesses (which inherit them) all train as users' runs do, on one cache.
    _SESSION.enter_context(xla_environment())


def pytest_unconfigure(config: pytest.Config) -> None:
    _SESSION.close()  # seals what the session compiled, restores the variables


# The slow layer runs as `-n 3 --dist loadfile`: whole files, handed out in collection order
# (pyproject's addopts turn off xdist's reordering by test count, which put the files with
# one or two long subprocess tests last, where one ran alone while the others idled,
# and each worker takes its next file while two tests of its current one are pending).
# Longest first, then, and the many short files fill in at the end. Seconds per file with
# three workers on 2 cores, roughly (only the order matters); a file not listed counts 4 s per
# `slow` test and 0.3 s per other test.
FILE_SECONDS = {
    "test_configs.py": 200,
    "test_tracking.py": 145,
    "test_tune_study.py": 130,
    "test_run.py": 120,
    "test_reliability.py": 112,
    "test_faults.py": 110,
    "test_multiworker_restart.py": 100,
    "test_export.py": 70,
    "test_robustness.py": 70,
    "test_plugins_keras.py": 66,
    "test_fine_tune.py": 53,
    "test_distill.py": 45,
    "test_text.py": 44,
    "test_distributed.py": 44,
    "test_report.py": 42,
    "test_fuzz.py": 39,
    "test_tune_postgres.py": 36,
    "test_prune_resume.py": 32,
    "test_explain.py": 29,
    "test_benchmark.py": 29,
    "test_stages.py": 27,
    "test_image_folder.py": 24,
    "test_folder_stream.py": 23,
    "test_backbones.py": 22,
    "test_init_from.py": 21,
    "test_target_scaling.py": 20,
}


def _file_seconds(name: str, items: list[pytest.Item]) -> float:
    if name in FILE_SECONDS:
        return FILE_SECONDS[name]
    slow = sum(1 for item in items if item.get_closest_marker("slow"))
    return 4.0 * slow + 0.3 * (len(items) - slow)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadfile`` (or loadscope), files longest first (see FILE_SECONDS), each
    file's tests in their own order. Any other run (the unit layer's worksteal, one process)
    keeps the collection order."""
    if config.getoption("dist", "no") not in ("loadfile", "loadscope"):
        return
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)
    seconds = {path: _file_seconds(path.name, found) for path, found in files.items()}
    order = {path: index for index, path in enumerate(files)}
    items.sort(key=lambda item: (-seconds[item.path], order[item.path]))


@pytest.fixture
def mnist_npz(tmp_path: Path) -> Path:
    """A small learnable Keras-layout mnist.npz."""
    return write_mnist_npz(tmp_path / "data" / "mnist.npz")


@pytest.fixture
def mnist_idx_dir(tmp_path: Path) -> Path:
    """A folder with the four gzipped IDX files."""
    return write_mnist_idx_dir(tmp_path / "idx")


@pytest.fixture
def regression_csv(tmp_path: Path) -> Path:
    """A regression CSV with a text categorical column."""
    return write_regression_csv(tmp_path / "reg.csv")


@pytest.fixture
def classification_csv(tmp_path: Path) -> Path:
    """A three-class CSV with string labels."""
    return write_classification_csv(tmp_path / "cls.csv")


@pytest.fixture
def no_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No image data anywhere, as on an offline machine: empty HOME, no $DLTRAIN_DATA_DIR,
    an empty system folder, and a Keras download that fails. Returns the kinds it was asked
    to download."""
    from dltrain.data import mnist

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("DLTRAIN_DATA_DIR", raising=False)
    monkeypatch.setattr(mnist, "SYSTEM_DATA_DIR", tmp_path / "system")
    calls: list[str] = []

    def offline(kind: str) -> None:
        calls.append(kind)
        raise OSError("network is unreachable")

    monkeypatch.setattr(mnist, "_download", offline)
    return calls
