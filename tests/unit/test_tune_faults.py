"""A study on a full disk (M2): it stops at the first disk-full trial, and a storage that cannot
commit ends it with a clear message, exit 1. Real SQLite studies; the trials are faked, but
their disk faults go through the run folder's own handling (``dltrain.storage.writing``)."""

from __future__ import annotations

import errno
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from test_tune_loop import SPACE, plan_without_keras, study_module
from tune_configs import write_tune
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.storage import RunFolder
from dltrain.storage.writing import writing
from dltrain.tune.objective import TrialOutcome, failed_trial, trial_name

runner = CliRunner()


def disk_full_from(first_full: int, at_start: bool, started: list[int]) -> Callable[..., TrialOutcome]:
    """Trials before ``first_full`` complete; from it on the disk is full (``ENOSPC``) as the
    run starts (its folder just made) or mid-run (``run.json`` says running)."""

    def run_trial(trial: Any, source: Any, params: dict[str, Any], *, study_dir: Path, **_: Any) -> TrialOutcome:
        started.append(trial.number)
        name = trial_name(trial.number)
        folder = RunFolder.create(study_dir, name)
        if trial.number < first_full:
            folder.update(status="completed")
            folder.release()
            return TrialOutcome("complete", value=1.0 + trial.number, run_dir=folder.path)
        if not at_start:
            folder.update(status="running")
        try:
            with writing(folder):
                full = folder.path / "checkpoints" / ".last.1-1.tmp.keras"
                raise OSError(errno.ENOSPC, "No space left on device", str(full))
        except Exception as exc:  # noqa: BLE001 - as run_trial turns a run's error into an outcome
            return failed_trial(exc, study_dir, name)
        raise AssertionError("unreachable")

    return run_trial


@pytest.mark.parametrize(
    ("first_full", "at_start"),
    [(1, False), (0, True), (2, True)],  # (a) the probe's trial 1 mid-run; (b) at each start
)
def test_a_full_disk_stops_the_study_at_the_first_disk_full_trial(
    tmp_path: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch, first_full: int, at_start: bool
) -> None:
    started: list[int] = []
    monkeypatch.setattr(study_module, "check_tune", plan_without_keras)
    monkeypatch.setattr(study_module, "run_trial", disk_full_from(first_full, at_start, started))
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    study_dir = runs / "reg_tune" / "reg_tune"

    result = runner.invoke(app, ["tune", str(config), "--runs-dir", str(runs), "--trials", "6"])
    assert result.exit_code == 1, result.output
    assert started == list(range(first_full + 1))  # not one trial after the disk filled
    assert f"stopped: trial {first_full} failed because the disk is full" in result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    study = json.loads((study_dir / "study.json").read_text())
    last = study["trial_list"][-1]
    assert last["number"] == first_full and last["state"] == "failed"
    assert "disk full" in last["reason"]
    assert study["trials"]["complete"] == first_full
    # A run that could not start leaves no folder behind, not even an empty trial-NNNN/.
    assert (study_dir / trial_name(first_full)).exists() is not at_start


def test_a_study_storage_that_cannot_commit_stops_the_study_with_exit_1(
    tmp_path: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    monkeypatch.setattr(study_module, "check_tune", plan_without_keras)
    monkeypatch.setattr(study_module, "run_trial", disk_full_from(99, False, started))
    tell = optuna.Study.tell

    def full_at_trial_1(self: optuna.Study, trial: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(trial, "number", None) == 1:
            # What Optuna's RDBStorage raises when SQLite cannot commit on a full disk.
            try:
                raise sqlite3.OperationalError("database or disk is full")
            except sqlite3.OperationalError as exc:
                raise optuna.exceptions.StorageInternalError(
                    "An exception is raised during the commit. This typically happens due to "
                    "invalid data in the commit, e.g. exceeding max length."
                ) from exc
        return tell(self, trial, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "tell", full_at_trial_1)
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["tune", str(config), "--runs-dir", str(runs), "--trials", "6"])
    assert result.exit_code == 1, result.output
    assert started == [0, 1]
    assert "could not be written (the disk is full): database or disk is full" in result.stderr
    assert "The study stopped; its trials so far are kept" in result.stderr
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert "StorageInternalError" not in result.output
