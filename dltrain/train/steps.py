"""Batches per execution (no Keras here, so it is testable in the fast layer)."""

from __future__ import annotations

__all__ = ["execution_steps"]


def execution_steps(steps: int, wanted: int) -> int:
    """Batches per execution: the largest divisor of the epoch's ``steps`` up to ``wanted``.

    Keras runs whole executions, and the training dataset spans all epochs, so an execution
    that does not end on the epoch's last batch would train on the next epoch's batches
    (wrong epoch boundaries, broken exact resume).
    """
    return max(d for d in range(1, max(min(wanted, steps), 1) + 1) if steps % d == 0)
