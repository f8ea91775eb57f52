"""dltrain: train Keras models from YAML experiment files.

The Python API mirrors the CLI::

    import dltrain
    result = dltrain.run("configs/mnist_mlp.yaml", overrides=["training.epochs=1"])
    result.run_dir, result.test_metrics
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "run"]

if TYPE_CHECKING:
    from dltrain.runner import RunResult


def run(config: Any, overrides: list[str] | None = None, **kwargs: Any) -> RunResult:
    """Train from a config path or mapping (see :func:`dltrain.runner.run_experiment`)."""
    from dltrain.runner import run_experiment

    return run_experiment(config, overrides=overrides or [], **kwargs)
