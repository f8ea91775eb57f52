"""The experiment schema with the registered dataset kinds in its ``data`` union.

:class:`ExperimentConfig` declares the built-in kinds; once plugins register more
(:func:`dltrain.plugins.register_dataset`), validation and ``dltrain schema`` use a subclass
whose ``data`` field is the union of both, still discriminated by ``kind``, so each kind keeps
strict, located errors.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, create_model

from dltrain.config.schema import (
    AudioFolderData,
    CsvData,
    ExperimentConfig,
    ImageFolderData,
    MnistData,
)
from dltrain.plugins import dataset_kinds

__all__ = ["experiment_model"]


def experiment_model() -> type[ExperimentConfig]:
    """The config model for the dataset kinds registered so far."""
    sections = tuple(kind.section for kind in dataset_kinds().values())
    return _with_sections(sections) if sections else ExperimentConfig


@cache
def _with_sections(sections: tuple[type[Any], ...]) -> type[ExperimentConfig]:
    field = ExperimentConfig.model_fields["data"]
    union: Any = Union[(MnistData, CsvData, ImageFolderData, AudioFolderData) + sections]  # noqa: UP007 - built at runtime
    data_type = Annotated[union, Field(discriminator="kind", description=field.description)]
    model: type[ExperimentConfig] = create_model(
        "ExperimentConfig",
        __base__=ExperimentConfig,
        __module__=ExperimentConfig.__module__,
        __doc__=ExperimentConfig.__doc__,
        data=(data_type, ...),
    )
    return model
