"""The ``tune`` section of the schema: what ``dltrain tune`` searches, how, and for what metric.

Keys of ``space`` are the key paths ``--set`` takes (``optimizer.learning_rate``,
``model.layers[1].Dense.units``); whether each one names a config value, and whether the ends
of its range are valid there, is checked against the experiment by :mod:`dltrain.tune.space`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from dltrain.config.data_schema import Strict

__all__ = ["CategoricalParam", "FloatParam", "IntParam", "ParamSpec", "TuneConfig"]

Choice = str | int | float | bool | None
"""A categorical choice: a plain YAML value (Optuna stores choices as such)."""


class FloatParam(Strict):
    """A real number between ``low`` and ``high`` (Optuna's ``suggest_float``)."""

    type: Literal["float"]
    """Parameter kind."""
    low: float
    """Smallest value (inclusive)."""
    high: float
    """Largest value (inclusive)."""
    log: bool = False
    """Sample on a log scale (learning rates, weight decay); needs ``low > 0``."""
    step: PositiveFloat | None = None
    """Only multiples of ``step`` from ``low``; not with ``log``."""

    @model_validator(mode="after")
    def _range(self) -> FloatParam:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"low must not exceed high; received low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0; received low={self.low}")
        if self.log and self.step is not None:
            raise ValueError("give either log: true or step, not both")
        return self


class IntParam(Strict):
    """An integer between ``low`` and ``high`` (Optuna's ``suggest_int``)."""

    type: Literal["int"]
    """Parameter kind."""
    low: int
    """Smallest value (inclusive)."""
    high: int
    """Largest value (inclusive)."""
    log: bool = False
    """Sample on a log scale (layer widths); needs ``low >= 1``."""
    step: PositiveInt = 1
    """Only every ``step``-th value from ``low``; must be 1 with ``log``."""

    @model_validator(mode="after")
    def _range(self) -> IntParam:
        if self.low > self.high:
            raise ValueError(f"low must not exceed high; received low={self.low}, high={self.high}")
        if self.log and self.low < 1:
            raise ValueError(f"log: true needs low >= 1; received low={self.low}")
        if self.log and self.step != 1:
            raise ValueError("log: true needs step 1")
        return self


class CategoricalParam(Strict):
    """One of a list of plain values (Optuna's ``suggest_categorical``)."""

    type: Literal["categorical"]
    """Parameter kind."""
    choices: list[Choice] = Field(min_length=1)
    """The values to choose from: text, numbers, true/false or null."""

    @field_validator("choices")
    @classmethod
    def _distinct(cls, value: list[Choice]) -> list[Choice]:
        seen: list[Choice] = []
        for choice in value:
            # 1 and true are equal in Python; keep them apart by type.
            if any(type(c) is type(choice) and c == choice for c in seen):
                raise ValueError(f"choices must be distinct; {choice!r} is given twice")
            seen.append(choice)
        return value


ParamSpec = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]
"""One searched value: ``{type: float | int | categorical, ...}``."""


class TuneConfig(Strict):
    """Hyperparameter search with ``dltrain tune`` (ignored by ``dltrain run``)."""

    metric: str = "val_loss"
    """The metric to optimize: any per-epoch metric the run logs (a ``metrics.csv`` column).
    A trial's value is the metric's best epoch."""
    direction: Literal["minimize", "maximize"] | None = None
    """Whether lower or higher is better; default from the metric's name, as the checkpoint's
    ``mode: auto`` decides (accuracy, AUC, precision, recall... are maximized)."""
    trials: PositiveInt = 20
    """Complete trials the study should have in total (pruned and failed ones do not count;
    reruns and other processes sharing the study add up to it). ``--trials`` wins."""
    timeout: PositiveFloat | None = None
    """Seconds after which no new trial starts (the running one finishes). ``--timeout`` wins."""
    sampler: Literal["tpe", "random", "grid", "cmaes", "qmc"] = "tpe"
    """Optuna's sampler, seeded by the config's ``seed``. ``grid`` needs ``int``,
    ``categorical`` or stepped ``float`` parameters."""
    pruner: Literal["median", "hyperband", "none"] = "median"
    """Stops unpromising trials early; each trial reports ``metric`` at every epoch."""
    seeds: PositiveInt = 1
    """Seeds each trial trains with: ``seed, seed+1, ...`` (``seed`` after the trial's values),
    each an ordinary run in the trial's folder; the trial's value is the mean of their values,
    so a trial is not chosen for one lucky draw. Pruning watches the first seed's run."""
    space: dict[str, ParamSpec] = Field(min_length=1)
    """Searched values by key path (as ``--set`` writes them), e.g.
    ``optimizer.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}``."""

    @model_validator(mode="after")
    def _seeds_not_searched(self) -> TuneConfig:
        if self.seeds > 1 and "seed" in self.space:
            raise ValueError(
                f"seeds {self.seeds} trains each trial with seed, seed+1, ...: `seed` cannot "
                "also be searched in space; remove one of the two"
            )
        return self
