"""``inspect_config``: what ``dltrain check`` shows after the schema passed (builds the model)."""

from __future__ import annotations

from typing import Any

from dltrain.config import LoadedConfig

__all__ = ["inspect_config"]


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
