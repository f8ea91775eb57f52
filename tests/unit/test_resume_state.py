"""A resume point's typed ``state.json`` (:class:`ResumeState`): round trip, older files."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pytest

from dltrain.errors import CheckpointError
from dltrain.storage import BestCheckpoint, latest_resume_point, save_resume_point
from dltrain.storage.manifest import (
    CallbackStates,
    EarlyStoppingState,
    ReduceLRState,
    ResumeState,
    read_resume_state,
)

# What the untyped writer (a dict, before ResumeState) wrote: epoch 2, early stopping on.
UNTYPED_STATE = {
    "epochs_completed": 2,
    "best": {"monitor": "val_loss", "mode": "min", "value": 0.31, "epoch": 2},
    "learning_rate": 0.003,
    "callbacks": {
        "early_stopping": {"wait": 0, "best": 0.31, "best_epoch": 1, "stopped_epoch": 0}
    },
    "rows": [
        {"epoch": 1, "loss": 0.9, "val_loss": 0.5, "learning_rate": 0.003, "epoch_time_s": 1.2},
        {"epoch": 2, "loss": 0.4, "val_loss": 0.31, "learning_rate": 0.003, "epoch_time_s": 1.1},
    ],
}

# What dltrain 0.1 wrote: no rows, the best checkpoint possibly null.
STATE_0_1 = {
    "epochs_completed": 1,
    "best": None,
    "learning_rate": 0.01,
    "callbacks": {"reduce_lr": {"wait": 1, "best": 0.5, "cooldown_counter": 0}},
}


class _Archive:
    """Saves a small zip archive where Keras would save a ``.keras`` file."""

    def save(self, filepath: str | Path) -> None:
        with zipfile.ZipFile(filepath, "w") as archive:
            archive.writestr("config.json", "{}")


def _state(epochs: int) -> ResumeState:
    return ResumeState(
        epochs_completed=epochs,
        best=BestCheckpoint(monitor="val_loss", mode="min", value=0.25, epoch=epochs),
        learning_rate=1e-3,
        callbacks=CallbackStates(
            early_stopping=EarlyStoppingState(wait=0, best=0.25, best_epoch=0, stopped_epoch=0),
            reduce_lr=ReduceLRState(wait=2, best=math.inf, cooldown_counter=1),
        ),
        rows=[{"epoch": e, "loss": float("nan") if e == 1 else 0.5} for e in range(1, epochs + 1)],
    )


def test_a_resume_state_round_trips_through_state_json(tmp_path: Path) -> None:
    state = _state(2)
    path = tmp_path / "state.json"
    path.write_text(state.to_json())
    text = path.read_text()
    assert "Infinity" in text and "NaN" in text  # non-finite values survive, as JSON's words
    back = read_resume_state(path)
    assert back.epochs_completed == 2 and back.best == state.best
    assert back.callbacks == state.callbacks
    assert back.callbacks.reduce_lr is not None and back.callbacks.reduce_lr.best == math.inf
    assert math.isnan(back.rows[0]["loss"]) and back.rows[1] == {"epoch": 2, "loss": 0.5}
    assert type(back.rows[0]["epoch"]) is int  # metrics.csv rebuilt from it keeps "1", not "1.0"


def test_an_older_state_json_reads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({**UNTYPED_STATE, "something_newer": [1]}, indent=2))
    state = read_resume_state(path)
    assert state.best == BestCheckpoint(monitor="val_loss", mode="min", value=0.31, epoch=2)
    assert state.learning_rate == 0.003
    es = state.callbacks.early_stopping
    assert es is not None and (es.wait, es.best, es.best_epoch) == (0, 0.31, 1)
    assert state.callbacks.reduce_lr is None  # the run had no reduce_lr
    assert state.rows == UNTYPED_STATE["rows"]
    assert json.loads(state.to_json())["something_newer"] == [1]  # unknown fields are kept

    path.write_text(json.dumps(STATE_0_1))
    old = read_resume_state(path)
    assert old.best is None and old.rows == [] and old.callbacks.early_stopping is None
    assert old.callbacks.reduce_lr == ReduceLRState(wait=1, best=0.5, cooldown_counter=0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "unreadable"),
        ("[1, 2]", "not a resume state"),
        (json.dumps({**STATE_0_1, "learning_rate": "fast"}), "learning_rate"),
        (json.dumps({k: v for k, v in STATE_0_1.items() if k != "epochs_completed"}),
         "epochs_completed"),
    ],
)
def test_a_bad_state_json_is_a_checkpoint_error(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(CheckpointError, match=reason):
        read_resume_state(path)


def test_resume_points_hold_typed_state_and_an_invalid_one_is_passed_over(
    tmp_path: Path,
) -> None:
    for epochs in (1, 2):
        saved = save_resume_point(tmp_path, _Archive(), epochs, _state(epochs))
        assert saved.state.epochs_completed == epochs
    point = latest_resume_point(tmp_path)
    assert point is not None and point.epochs_completed == 2 and point.skipped == ()
    assert point.state.best is not None and point.state.best.epoch == 2
    assert [r["epoch"] for r in point.state.rows] == [1, 2]

    newest = tmp_path / "resume" / "epoch-00002" / "state.json"
    newest.write_text(json.dumps({**STATE_0_1, "callbacks": {"early_stopping": {"wait": "x"}}}))
    point = latest_resume_point(tmp_path)
    assert point is not None and point.epochs_completed == 1
    (why,) = point.skipped
    assert str(newest) in why and "damaged resume state" in why and "early_stopping" in why
