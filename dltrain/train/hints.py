"""What to try next when training fails: advice appended to failure messages (no printing)."""

from __future__ import annotations

from typing import Any

__all__ = ["current_learning_rate", "learning_rate_if_known", "nan_advice"]


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


def nan_advice(on_nan: str, rollbacks: int, max_rollbacks: int, learning_rate: float | None) -> str:
    """The next step after the loss became NaN or infinite, for a failure message.

    Args:
        on_nan: ``training.on_nan`` (``stop`` or ``rollback``).
        rollbacks: How many rollbacks this run already made.
        max_rollbacks: ``training.max_rollbacks``.
        learning_rate: The learning rate when training diverged, if known.
    """
    lower = "lower optimizer.learning_rate"
    if learning_rate is not None and learning_rate > 0:
        smaller = learning_rate / 10
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
