"""dltrain: train Keras models from YAML experiment files.

The Python API mirrors the CLI::

    import dltrain
    result = dltrain.run("configs/mnist_mlp.yaml", overrides=["training.epochs=1"])
    result.run_dir, result.test_metrics
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dltrain.version import __version__

__all__ = ["__version__", "register_dataset", "run"]

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dltrain.runner import RunResult

_Loader = TypeVar("_Loader", bound=Callable[..., Any])


def run(
    config: str | Path,
    overrides: Sequence[str] = (),
    *,
    progress: bool = False,
    quiet: bool = True,
    **kwargs: Any,
) -> RunResult:
    """Train from a config file; see :func:`dltrain.runner.run_experiment` for ``kwargs``.

    Args:
        config: The experiment YAML file.
        overrides: ``key.path=value`` strings, as ``--set`` takes them.
        progress: Print one line per epoch (and warnings) to standard output.
        quiet: Keep TensorFlow's native log lines and library warnings out of the output
            while the run lasts (they go to ``logs/`` in the run folder, as with the CLI).
            Everything changed for that is put back when the call returns.
    """
    from rich.console import Console

    from dltrain.progress import LineProgress
    from dltrain.quiet import QuietOutput
    from dltrain.runner import run_experiment

    with QuietOutput(enabled=quiet) as output:
        return run_experiment(
            Path(config),
            overrides,
            progress=LineProgress(Console(highlight=False)) if progress else None,
            on_run_folder=output.attach,
            **kwargs,
        )


def register_dataset(kind: str, *, config: type[BaseModel]) -> Callable[[_Loader], _Loader]:
    """Register a ``data.kind`` loader (see :func:`dltrain.plugins.register_dataset`)."""
    from dltrain.plugins import register_dataset as register

    return register(kind, config=config)
