"""The ``callbacks`` section of the config: checkpoint, early stopping, reduce-LR, TensorBoard,
and any other Keras callback by name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    WithJsonSchema,
    field_validator,
)

from dltrain.config.data_schema import Fraction, Strict

__all__ = [
    "CallbacksConfig",
    "CheckpointConfig",
    "EarlyStoppingConfig",
    "MonitorMode",
    "ReduceLROnPlateauConfig",
    "TensorBoardConfig",
    "flag_section",
]

MonitorMode = Literal["auto", "min", "max"]


class CheckpointConfig(Strict):
    """Saving ``checkpoints/best.keras`` and ``last.keras``."""

    monitor: str = "val_loss"
    """Metric that decides the best epoch (``loss`` when there is no validation data)."""
    mode: MonitorMode = "auto"
    """Whether lower or higher is better; ``auto`` infers it from the name."""


class EarlyStoppingConfig(Strict):
    """Stop when the monitored metric stops improving."""

    monitor: str = "val_loss"
    """Metric to watch."""
    patience: NonNegativeInt = 5
    """Epochs without improvement before stopping."""
    min_delta: NonNegativeFloat = 0.0
    """Smallest change that counts as an improvement."""
    mode: MonitorMode = "auto"
    """Whether lower or higher is better."""
    restore_best_weights: bool = True
    """Go back to the best epoch's weights when stopping."""
    start_from_epoch: NonNegativeInt = 0
    """Epochs to wait before watching."""


class ReduceLROnPlateauConfig(Strict):
    """Lower the learning rate when the monitored metric plateaus."""

    monitor: str = "val_loss"
    """Metric to watch."""
    factor: Fraction = 0.1
    """Multiplier applied to the learning rate."""
    patience: NonNegativeInt = 3
    """Epochs without improvement before lowering."""
    min_delta: NonNegativeFloat = 1e-4
    """Smallest change that counts as an improvement."""
    cooldown: NonNegativeInt = 0
    """Epochs to wait after a reduction."""
    min_lr: NonNegativeFloat = 0.0
    """Lower bound of the learning rate."""
    mode: MonitorMode = "auto"
    """Whether lower or higher is better."""


class TensorBoardConfig(Strict):
    """TensorBoard event files under ``<run>/tensorboard``."""

    histogram_freq: NonNegativeInt = 0
    """Epochs between weight histograms (0: none)."""
    update_freq: Literal["epoch", "batch"] | PositiveInt = "epoch"
    """How often scalars are written."""


def flag_section(value: Any) -> Any:
    """``true`` means the section with its defaults, ``false`` means off."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


# What a `callbacks.extra` entry may be written as (the validator below makes both a mapping):
# the JSON Schema says so too, so editors accept `- TerminateOnNaN` as `dltrain run` does.
_EXTRA_ENTRY: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "description": "A callback class name, with no arguments."},
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "description": "{ClassName: {arguments}}",
        },
    ]
}


class CallbacksConfig(Strict):
    """Callbacks added to ``model.fit``. ``true`` enables a section with its defaults."""

    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    """Best/last checkpoints (always written)."""
    early_stopping: EarlyStoppingConfig | None = None
    """Early stopping; off by default."""
    reduce_lr: ReduceLROnPlateauConfig | None = None
    """Reduce-LR-on-plateau; off by default."""
    terminate_on_nan: bool = True
    """Stop as soon as the loss is NaN/Inf."""
    tensorboard: TensorBoardConfig | None = None
    """TensorBoard logs; off by default."""
    extra: list[Annotated[dict[str, dict[str, Any]], WithJsonSchema(_EXTRA_ENTRY)]] | None = None
    """More Keras callbacks, each ``{ClassName: {arguments}}`` or a bare ``ClassName``: built-in
    ones (``CSVLogger: {filename: log.csv}``, ``TerminateOnNaN``) or classes registered with
    ``@keras.saving.register_keras_serializable`` by a module in ``imports``."""

    _flags = field_validator("early_stopping", "reduce_lr", "tensorboard", mode="before")(
        flag_section
    )

    @field_validator("extra", mode="before")
    @classmethod
    def _one_class_per_entry(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        entries = []
        for entry in value:
            if isinstance(entry, str):
                entry = {entry: {}}  # A bare class name: `- TerminateOnNaN`.
            if isinstance(entry, dict) and len(entry) != 1:
                got = ", ".join(repr(k) for k in entry) or "none"
                raise ValueError(
                    "a callback entry needs exactly one callback class as its key, like "
                    f"`CSVLogger: {{filename: log.csv}}`; received {got}"
                )
            if isinstance(entry, dict):
                entry = {k: {} if v is None else v for k, v in entry.items()}
            entries.append(entry)
        return entries
