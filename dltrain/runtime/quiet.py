"""The process-wide output settings of one dltrain command, entered by the CLI (or the API).

TensorFlow prints C++ start-up notices (absl, oneDNN, CPU features) straight to file
descriptor 2 and Python warnings through ``logging``; a run's terminal output is ours alone,
so for the length of a command they go to log files in the run folder instead
(``logs/tensorflow.log``, ``logs/warnings.log``). Library code never does this itself:
:class:`QuietOutput` is a context manager that changes these settings on entry and puts
every one of them back on exit, so a notebook or test process is left as it was.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import TextIO

__all__ = ["QuietOutput", "attach_logs", "remove_orphaned_logs"]

_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "ABSL_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}
_LOGGERS = ("py.warnings", "tensorflow", "absl", "keras")


# The entered (enabled) instances, innermost last: attach_logs reaches the command's own.
_ACTIVE: list[QuietOutput] = []


def attach_logs(run_dir: Path) -> None:
    """:meth:`QuietOutput.attach` of the innermost one entered; nothing when none is.

    For displays that learn of run folders one by one (a study's trials) but were not
    handed the command's :class:`QuietOutput`.
    """
    if _ACTIVE:
        _ACTIVE[-1].attach(run_dir)


class QuietOutput:
    """Route TensorFlow's native log and library warnings to files while a command runs.

    Args:
        enabled: False (``--debug``) leaves everything as it is.
        native: Also redirect file descriptor 2 (only where stderr is the real terminal
            stream: a test runner or notebook that captures it is left alone).
    """

    def __init__(self, enabled: bool = True, *, native: bool = True) -> None:
        self.enabled = enabled
        self.native = native
        self._env: dict[str, str | None] = {}
        self._loggers: dict[str, tuple[list[logging.Handler], bool]] = {}
        self._root_handlers: list[logging.Handler] | None = None
        self._handler: logging.Handler = logging.NullHandler()
        self._captured_warnings = False
        self._saved_fd: int | None = None
        self._saved_stderr: TextIO | None = None
        self._native_log: Path | None = None

    # ----------------------------------------------------------------- entering
    def __enter__(self) -> QuietOutput:
        if not self.enabled:
            return self
        for key, value in _ENV.items():
            self._env[key] = os.environ.get(key)
            os.environ.setdefault(key, value)
        if self.native and sys.stderr is sys.__stderr__:
            self._redirect_native()
        # logging.captureWarnings has no getter; its private flag is the only way to know.
        self._captured_warnings = bool(getattr(logging, "_warnings_showwarning", None))
        logging.captureWarnings(True)
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            self._loggers[name] = (list(logger.handlers), logger.propagate)
        root = logging.getLogger()
        if not root.handlers:
            # TensorFlow adds its own stderr handler to the "tensorflow" logger when it is
            # first imported, unless the root logger has a handler: then its deprecation
            # notices ("Instructions for updating: ...") would reach the terminal. A root
            # logger someone configured (a notebook, pytest) is left as it is.
            self._root_handlers = []
        self._install(logging.NullHandler())
        _ACTIVE.append(self)
        return self

    def _redirect_native(self) -> None:
        try:
            saved = os.dup(2)
        except OSError:
            return
        if sys.stderr is not None:
            sys.stderr.flush()
        self._saved_fd = saved
        self._saved_stderr = sys.stderr
        # Python's own messages keep going to the terminal through a copy of the old fd 2.
        sys.stderr = os.fdopen(
            os.dup(saved), "w", buffering=1, encoding="utf-8", errors="backslashreplace"
        )
        remove_orphaned_logs()
        fd, name = tempfile.mkstemp(prefix=f"dltrain-native-{os.getpid()}-", suffix=".log")
        os.dup2(fd, 2)
        os.close(fd)
        self._native_log = Path(name)

    def _install(self, handler: logging.Handler) -> None:
        self._handler.close()
        self._handler = handler
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            logger.handlers = [handler]
            logger.propagate = False
        if self._root_handlers is not None:
            logging.getLogger().handlers = [handler]

    # ------------------------------------------------------------------- moving
    def attach(self, run_dir: Path) -> None:
        """From now on, keep the logs in ``run_dir/logs/`` (called once the folder exists)."""
        if not self.enabled:
            return
        logs = run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(logs / "warnings.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        self._install(handler)
        if self._native_log is None:
            return
        target = logs / "tensorflow.log"
        with target.open("ab") as out:
            # Only the temporary log moves: a study attaches each trial's folder in turn,
            # and one trial's log is not the next one's.
            temporary = self._native_log.name.startswith("dltrain-native-")
            if temporary and self._native_log.is_file() and self._native_log.parent != logs:
                out.write(self._native_log.read_bytes())
            os.dup2(out.fileno(), 2)
        self._drop_temporary()
        self._native_log = target

    def _drop_temporary(self) -> None:
        if self._native_log is not None and self._native_log.name.startswith("dltrain-native-"):
            self._native_log.unlink(missing_ok=True)

    # ------------------------------------------------------------------ leaving
    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if not self.enabled:
            return
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        self._handler.close()
        for name, (handlers, propagate) in self._loggers.items():
            logger = logging.getLogger(name)
            logger.handlers = handlers
            logger.propagate = propagate
        if self._root_handlers is not None:
            logging.getLogger().handlers = self._root_handlers
            self._root_handlers = None
        if not self._captured_warnings:
            logging.captureWarnings(False)
        if self._saved_fd is not None:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(self._saved_fd, 2)
            os.close(self._saved_fd)
            replaced = sys.stderr
            sys.stderr = self._saved_stderr
            if replaced is not None and replaced is not sys.stderr:
                replaced.close()
            self._saved_fd = None
        self._drop_temporary()
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def remove_orphaned_logs() -> None:
    """Temporary native logs of dltrain processes that were killed before moving them."""
    for path in Path(tempfile.gettempdir()).glob("dltrain-native-*-*.log"):
        pid = path.name.split("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except OSError:
            continue  # alive, or not ours to judge
