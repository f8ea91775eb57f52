"""``inspect_config``: what ``dltrain check`` shows after the schema passed (builds the model)."""

from __future__ import annotations

from typing import Any

from dltrain.config import LoadedConfig

__all__ = ["inspect_config", "locate_data"]


def inspect_config(loaded: LoadedConfig) -> Any:
    """Build and compile the config's model and summarize it, without training.

    Image configs need no data files (shapes come from the config); CSV configs read the data
    to learn the columns.

    Raises:
        ConfigError: a layer, optimizer, loss or metric problem, located in the file.
        DataError: CSV data that cannot be read.
    """
    from dltrain.data import describe_data, load_datasets
    from dltrain.model import build_model, compile_model, summarize_model
    from dltrain.train.environment import configure_environment

    cfg = loaded.config
    configure_environment(cfg.seed, False, cfg.precision)
    spec = describe_data(cfg)
    if spec is None:
        spec = load_datasets(cfg, source=loaded.source).spec
    from dltrain.train.extra_callbacks import build_extra_callbacks

    with loaded.located():
        model = build_model(cfg, spec)
        compile_model(model, cfg, spec)
        build_extra_callbacks(cfg)  # `callbacks.extra`: names and arguments, before training
    return summarize_model(model)


def locate_data(loaded: LoadedConfig) -> str | None:
    """Where ``dltrain run`` would read the config's image data, found the same way.

    Reads no images: it finds the ``.npz`` or IDX folder by the same search order as ``run``
    (``data.path``, ``$DLTRAIN_DATA_DIR``, the Keras cache, ``/usr/share/datasets``, then a
    Keras download). CSV data is read by :func:`inspect_config` already, so ``None`` here.

    Raises:
        DataError: the same error ``run`` gives when the data cannot be found.
    """
    from dltrain.config.schema import MnistData
    from dltrain.data.mnist import locate_mnist

    data = loaded.config.data
    if not isinstance(data, MnistData):
        return None
    how, path = locate_mnist(data)
    return f"{data.kind} data: {path}" + ("" if how == "npz" else " (IDX files)")
