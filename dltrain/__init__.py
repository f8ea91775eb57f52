"""dltrain: train Keras models from YAML experiment files.

The Python API mirrors the CLI::

    import dltrain
    result = dltrain.run("configs/mnist_mlp.yaml", overrides=["training.epochs=1"])
    result.run_dir, result.test_metrics
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

__version__ = "0.1.0"
__all__ = ["__version__", "register_dataset", "run"]

if TYPE_CHECKING:
    from pydantic import BaseModel

    from dltrain.runner import RunResult

_Loader = TypeVar("_Loader", bound=Callable[..., Any])


def run(config: Any, overrides: list[str] | None = None, **kwargs: Any) -> RunResult:
    """Train from a config path or mapping (see :func:`dltrain.runner.run_experiment`)."""
    from dltrain.runner import run_experiment

    return run_experiment(config, overrides=overrides or [], **kwargs)


def register_dataset(kind: str, *, config: type[BaseModel]) -> Callable[[_Loader], _Loader]:
    """Register a ``data.kind`` loader (see :func:`dltrain.plugins.register_dataset`)."""
    from dltrain.plugins import register_dataset as register

    return register(kind, config=config)
