"""``loading_ahead``: the data is read while TensorFlow is imported.

``import tensorflow, keras`` takes 5-9 s on a CPU machine with one core busy in Python, and
nothing of a run can use TensorFlow before it ends. The built-in loaders need neither
(NumPy, pyarrow, Pillow, libsndfile) and spend much of their time outside the interpreter
lock: gunzip, pyarrow's parse, NumPy's copies, SHA-256. So the run's stages start the data
load in a thread before their first TensorFlow import and take its result after it: the
load overlaps the import instead of following it (docs/benchmarks.md, "First step and CSV
ingest").

The thread runs :func:`~dltrain.data.load_datasets` itself, so the arrays, the errors and
their messages are the ones a load after the import gives; loading draws from no global
random state (:mod:`dltrain.data.sharing`), so starting it earlier changes no result.

Only a load that imports no TensorFlow or Keras goes to the thread: one that did would
import them beside the main thread's import, and Python breaks the cycle of the two
threads' module locks by handing one of them a half-initialized module ("partially
initialized module 'tensorflow...'"). So text columns (adapted by Keras's
``TextVectorization``), streamed CSV, MNIST that Keras would download, and a plugin's
``data.kind`` (its loader may import anything) are loaded in place, after the import; so is
any data once TensorFlow is imported (a tuning study's later trials): nothing to overlap
then. ``tests/unit/test_data_ahead.py`` loads every kind that goes to the thread in a fresh
interpreter and checks that neither is imported.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from pathlib import Path

from dltrain.config.schema import CsvData, ExperimentConfig, FolderData, MnistData
from dltrain.config.yaml_source import SourceMap
from dltrain.data.load import load_datasets
from dltrain.data.mnist import found_without_download
from dltrain.data.pipeline import Datasets

__all__ = ["loading_ahead", "reads_without_tensorflow"]


def reads_without_tensorflow(config: ExperimentConfig) -> bool:
    """Whether loading ``config``'s data imports neither TensorFlow nor Keras."""
    data = config.data
    if isinstance(data, FolderData):
        return True
    if isinstance(data, CsvData):
        return not data.stream and not data.text_columns()
    if isinstance(data, MnistData):
        return found_without_download(data)
    return False  # a plugin's kind


@contextmanager
def loading_ahead(
    config: ExperimentConfig,
    *,
    test_path: Path | None = None,
    source: SourceMap | None = None,
    thread: bool | None = None,
) -> Iterator[Callable[[], Datasets]]:
    """Start ``load_datasets(config, test_path=test_path, source=source)``; the block gets a
    function that returns its :class:`~dltrain.data.Datasets` (waiting for them) or raises
    what the load raised.

    ``thread``: load in a thread (``None``: when TensorFlow is not imported yet). A load that
    would import TensorFlow (:func:`reads_without_tensorflow`) is always made in place, when
    the function is called. Leaving the block waits for
    a load still running (a stage that failed first leaves no thread reading behind it) and
    drops its result or error; except on Ctrl-C (any ``BaseException`` that is not an
    ``Exception``): the thread is a daemon, so the interrupted process ends without waiting
    for a large folder to finish decoding.
    """
    if thread is None:
        thread = "tensorflow" not in sys.modules
    if not thread or not reads_without_tensorflow(config):
        yield lambda: load_datasets(config, test_path=test_path, source=source)
        return
    future: Future[Datasets] = Future()
    # The caller's context goes with it: a tuning study's sharing_datasets block is a ContextVar.
    context = contextvars.copy_context()

    def load() -> None:
        future.set_running_or_notify_cancel()
        try:
            datasets = context.run(load_datasets, config, test_path=test_path, source=source)
        except BaseException as exc:  # handed to the caller, who raises it
            future.set_exception(exc)
        else:
            future.set_result(datasets)

    threading.Thread(target=load, name="dltrain-data", daemon=True).start()
    try:
        yield future.result
    except Exception:
        wait([future])
        raise
    wait([future])
