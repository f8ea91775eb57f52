"""Two processes opening one shared study: the second waits for the first to record it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import optuna

from dltrain.tune import study as study_module


def test_a_study_being_created_is_waited_for_until_its_metric_is_recorded(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    made = optuna.create_study(storage=storage, study_name="shared", direction="minimize")

    def record() -> None:  # the creating process, one step later
        time.sleep(0.5)
        made.set_user_attr("metric", "val_mae")

    writer = threading.Thread(target=record)
    writer.start()
    started = time.monotonic()
    found = study_module._summaries(storage, "shared")
    writer.join()
    assert found["shared"].user_attrs["metric"] == "val_mae"
    assert time.monotonic() - started >= 0.4
    # A study that does not exist yet is not waited for.
    started = time.monotonic()
    assert "other" not in study_module._summaries(storage, "other")
    assert time.monotonic() - started < 0.4
