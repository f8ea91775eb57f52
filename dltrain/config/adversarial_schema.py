"""``training.adversarial``: train on a mix of clean and adversarially perturbed examples.

The perturbation (FGSM or PGD, docs/robustness.md) is made against the current weights inside
each train step; the saved checkpoints hold the ordinary model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from dltrain.config.data_schema import Strict

if TYPE_CHECKING:
    from dltrain.config.schema import ExperimentConfig
    from dltrain.utils.keys import KeyPath

__all__ = ["AdversarialConfig", "adversarial_conflicts", "pgd_step_size"]


class AdversarialConfig(Strict):
    """Adversarial training: each batch mixes clean examples with ones perturbed to raise the
    loss, within ``epsilon`` of the original in every input value (L-infinity)."""

    method: Literal["fgsm", "pgd"] = "fgsm"
    """``fgsm``: one step of size ``epsilon`` along the sign of the input gradient (fast);
    ``pgd``: ``steps`` smaller signed steps from a random start inside the epsilon box,
    projected back into it after each (stronger, ``steps`` times the cost)."""
    epsilon: PositiveFloat
    """The largest change of any input value, in the raw units the saved model takes: pixels
    scaled to 0..1 for MNIST-format data with ``scale: true`` (so 8/255 = 0.031 is 8 grey
    levels), 0..255 for image folders, the column's own units for CSV numbers."""
    ratio: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    """The share of each batch that is perturbed (the rest stays clean); 1 trains on perturbed
    examples only."""
    steps: PositiveInt = 10
    """PGD: gradient steps per perturbation."""
    step_size: PositiveFloat | None = None
    """PGD: the size of each step, in raw units; default ``2.5 * epsilon / steps`` (Madry et
    al.), which can cross the box from one side to the other."""

    @model_validator(mode="after")
    def _pgd_keys_need_pgd(self) -> AdversarialConfig:
        # Values, not "was the key written": a run's saved config.yaml writes every default.
        given = [k for k, v in (("steps", self.steps != 10), ("step_size", self.step_size)) if v]
        if self.method == "fgsm" and given:
            raise ValueError(
                f"{' and '.join(given)} only apply to method: pgd (FGSM takes one step of "
                f"size epsilon); remove {given[0]} or set method: pgd"
            )
        return self


def pgd_step_size(epsilon: float, steps: int, step_size: float | None) -> float:
    """The PGD step in raw units: ``step_size``, else ``2.5 * epsilon / steps``."""
    return step_size if step_size is not None else 2.5 * epsilon / steps


def adversarial_conflicts(config: ExperimentConfig) -> list[tuple[KeyPath, str]]:
    """Settings ``training.adversarial`` cannot be combined with (key path, why)."""
    if config.training.adversarial is None:
        return []
    key: KeyPath = ("training", "adversarial")
    found: list[tuple[KeyPath, str]] = []
    if config.distill is not None:
        found.append(
            (
                key,
                "adversarial training cannot be combined with distill (both replace the train "
                "step); distill first, then train adversarially with init_from",
            )
        )
    if config.training.fine_tune is not None:
        found.append(
            (
                key,
                "adversarial training cannot be combined with training.fine_tune (phase 2 "
                "recompiles the model, which would drop the perturbing train step); fine-tune "
                "first, then train adversarially with init_from",
            )
        )
    if config.distribute.strategy == "multi_worker_mirrored":
        found.append(
            (
                ("distribute", "strategy"),
                "adversarial training runs on one machine; use strategy default or mirrored",
            )
        )
    return found
