"""What to try next when training fails: advice appended to failure messages (no printing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dltrain.storage.manifest import Rollback

__all__ = ["current_learning_rate", "learning_rate_if_known", "nan_advice", "rate_that_trained"]


def current_learning_rate(model: Any) -> float:
    """The optimizer's learning rate now (a schedule evaluated at the current step).

    Imports Keras on first use (this module does not, so failure advice stays Keras-free).

    Raises:
        AttributeError: the model has no optimizer (not compiled).
    """
    from dltrain.train.signals import scalar

    return scalar(model.optimizer.learning_rate)


def learning_rate_if_known(model: Any) -> float | None:
    """:func:`current_learning_rate`, or None when it cannot be read (for advice only)."""
    try:
        return current_learning_rate(model)
    except Exception:  # noqa: BLE001 - advice only: no model, no optimizer, odd schedule
        return None


def rate_that_trained(rollbacks: Sequence[Rollback], failed_in_epoch: int) -> float | None:
    """The learning rate of the last rollback after which at least one epoch completed.

    A rollback to ``resumed_from_epoch`` trains epoch ``resumed_from_epoch + 1`` next (epochs
    count from 1, as ``at_epoch`` does); when the next divergence (the next rollback's, or
    ``failed_in_epoch``, the one that ended the run) came in a later epoch, that epoch
    completed at the rollback's rate. None when no rollback's rate trained a whole epoch.
    """
    if not rollbacks:
        return None
    ends = [r.at_epoch for r in rollbacks[1:]] + [failed_in_epoch]
    for rollback, end in reversed(list(zip(rollbacks, ends, strict=True))):
        if end > rollback.resumed_from_epoch + 1:
            return rollback.learning_rate
    return None


def nan_advice(
    on_nan: str,
    rollbacks: int,
    max_rollbacks: int,
    learning_rate: float | None,
    trained_at: float | None = None,
) -> str:
    """The next step after the loss became NaN or infinite, for a failure message.

    The rate suggested is one that trained: ``trained_at`` when a rollback found one, else a
    hundredth of ``learning_rate`` (a tenth of an absurd rate still diverges).

    Args:
        on_nan: ``training.on_nan`` (``stop`` or ``rollback``).
        rollbacks: How many rollbacks this run already made.
        max_rollbacks: ``training.max_rollbacks``.
        learning_rate: The learning rate when training diverged, if known.
        trained_at: A rate that completed an epoch after a rollback
            (:func:`rate_that_trained`), if any.
    """
    lower = "lower optimizer.learning_rate"
    if trained_at is not None and trained_at > 0:
        was = f"it was {learning_rate:g}; " if learning_rate is not None else ""
        lower += (
            f" ({was}try --set optimizer.learning_rate={trained_at:g}, a rate the rollback "
            "trained a whole epoch with)"
        )
    elif learning_rate is not None and learning_rate > 0:
        smaller = learning_rate / 100
        lower += f" (it was {learning_rate:g}; try --set optimizer.learning_rate={smaller:g})"
    if on_nan != "rollback":
        return (
            f"next: {lower}, or set training.on_nan: rollback to go back to the last good "
            "epoch with a smaller learning rate and go on"
        )
    if max_rollbacks and rollbacks >= max_rollbacks:
        return (
            f"next: {lower}; the run already rolled back {rollbacks} time"
            f"{'s' if rollbacks != 1 else ''} (training.max_rollbacks), so the rate itself is "
            "too high, or the data holds extreme values (scale large targets)"
        )
    return f"next: {lower} (no earlier checkpoint was left to roll back to)"
