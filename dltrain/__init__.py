"""dltrain: train Keras models from YAML experiment files.

The Python API mirrors the CLI::

    import dltrain
    result = dltrain.run("configs/mnist_mlp.yaml", overrides=["training.epochs=1"])
    result.run_dir, result.test_metrics
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dltrain.version import __version__

__all__ = ["__version__", "run"]

if TYPE_CHECKING:
    from dltrain.runner import RunResult


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
