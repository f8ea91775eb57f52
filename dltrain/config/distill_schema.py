"""The ``distill`` section: train this config's model (the student) from a trained teacher run.

The teacher is another run's checkpoint, frozen; the student is the ordinary model of the
config. Training goes through Keras's own ``keras.distillation.Distiller`` (docs/guide.md,
"Smaller models").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, PositiveFloat

from dltrain.config.data_schema import Strict

if TYPE_CHECKING:
    from dltrain.config.schema import ExperimentConfig
    from dltrain.utils.keys import KeyPath

__all__ = ["DistillConfig", "FeaturePair", "distill_conflicts"]


class FeaturePair(Strict):
    """One intermediate layer of the teacher whose output a student layer learns to match."""

    teacher: str
    """The teacher layer's name (``model.txt`` of the teacher run lists them)."""
    student: str
    """The student layer's name; its output must have the teacher layer's shape."""


class DistillConfig(Strict):
    """Knowledge distillation from a trained teacher run (``keras.distillation``)."""

    teacher: str = Field(pattern=r"^[^:]+(:(best|last))?$")
    """The teacher: a run folder (its best checkpoint), ``runs/NAME`` (its latest run), or
    either with ``:best``/``:last``. Relative to the config file, like data paths."""
    temperature: PositiveFloat = 4.0
    """Softens both models' class distributions before they are compared (Keras's
    ``LogitsDistillation``; the KL term is scaled by its square)."""
    alpha: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    """Weight of the ordinary loss on the labels; ``1 - alpha`` goes to the teacher's soft
    targets (Keras's ``student_loss_weight``)."""
    features: list[FeaturePair] = Field(default_factory=list)
    """Optional layer pairs for feature distillation (mean squared error between the two
    layers' outputs, weight 1 each, added to the soft-target term)."""


def distill_conflicts(config: ExperimentConfig) -> list[tuple[KeyPath, str]]:
    """Settings that cannot be combined with ``distill`` (key path, why); empty when none."""
    if config.distill is None:
        return []
    found: list[tuple[KeyPath, str]] = []
    if config.training.fine_tune is not None:
        found.append(
            (
                ("training", "fine_tune"),
                "fine_tune cannot be combined with distill (phase 2 recompiles the model, "
                "which would drop the teacher); distill first, then fine-tune with init_from",
            )
        )
    if config.distribute.strategy == "multi_worker_mirrored":
        found.append(
            (
                ("distribute", "strategy"),
                "distill runs on one machine; use strategy default or mirrored",
            )
        )
    return found
