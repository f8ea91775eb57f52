"""Failure advice after a divergence suggests a learning rate that trains (no TensorFlow)."""

from __future__ import annotations

from dltrain.storage.manifest import Rollback
from dltrain.train.hints import nan_advice, rate_that_trained


def _rollback(at_epoch: int, resumed_from: int, rate: float) -> Rollback:
    return Rollback(
        at_epoch=at_epoch, at_batch=3, resumed_from_epoch=resumed_from, learning_rate=rate
    )


def test_the_rate_of_the_last_rollback_that_completed_an_epoch() -> None:
    # 1e6 diverged in epoch 1; 5e5 too (epoch 1 again); 2.5e5 trained epoch 1, diverged in 2;
    # 1.25e5 (from epoch 1) diverged at once in epoch 2: 2.5e5 is the rate that trained.
    rollbacks = [_rollback(1, 0, 5e5), _rollback(1, 0, 2.5e5), _rollback(2, 1, 1.25e5)]
    assert rate_that_trained(rollbacks, failed_in_epoch=2) == 2.5e5
    # The last rollback's rate trained epochs 2 and 3 before the run failed in epoch 4.
    rollbacks = [_rollback(1, 0, 0.5), _rollback(2, 1, 0.25)]
    assert rate_that_trained(rollbacks, failed_in_epoch=4) == 0.25
    # No rollback's rate got through an epoch; no rollback at all.
    assert rate_that_trained([_rollback(1, 0, 0.5), _rollback(1, 0, 0.25)], 1) is None
    assert rate_that_trained([], 3) is None


def test_advice_names_the_rate_that_trained_else_a_hundredth() -> None:
    # The newcomer's case: a tenth of 1e6 still diverges; a hundredth is the fallback.
    stop = nan_advice("stop", 0, 3, 1e6)
    assert "(it was 1e+06; try --set optimizer.learning_rate=10000)" in stop
    assert "on_nan: rollback" in stop
    spent = nan_advice("rollback", 3, 3, 1.25e5, trained_at=2.5e5)
    assert "try --set optimizer.learning_rate=250000, a rate the rollback trained" in spent
    assert "rolled back 3 times (training.max_rollbacks)" in spent
    none_trained = nan_advice("rollback", 3, 3, 0.01)
    assert "try --set optimizer.learning_rate=0.0001)" in none_trained
    assert "no earlier checkpoint" in nan_advice("rollback", 0, 3, None)
