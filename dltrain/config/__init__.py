"""The config stage: YAML experiment files -> validated, resolved :class:`ExperimentConfig`."""

from dltrain.config.loader import LoadedConfig, config_from_dict, did_you_mean, load_config
from dltrain.config.schema import ExperimentConfig

__all__ = ["ExperimentConfig", "LoadedConfig", "config_from_dict", "did_you_mean", "load_config"]
