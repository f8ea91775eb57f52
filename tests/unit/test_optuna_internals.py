"""The private Optuna API that ``dltrain tune`` relies on still exists and still works.

``pyproject.toml`` bounds Optuna to the versions this was checked on; if an upgrade moves one
of these, these tests fail instead of shared studies losing their killed trials or heartbeats.
Everything private is reached through :mod:`dltrain.tune.storage` (``trial_id``,
``_fail_trial``) and the grid sampler's ``after_trial`` override (:mod:`dltrain.tune.samplers`).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from dltrain.tune.samplers import make_sampler
from dltrain.tune.storage import (
    GRACE_S,
    _fail_trial,
    current_trials,
    fail_stale,
    is_finished,
    open_storage,
    this_process,
    trial_id,
)

# dltrain runs the heartbeat itself (dltrain.tune.storage.Heartbeat), as Study.optimize would.
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")


@pytest.fixture
def study(tmp_path: Path) -> optuna.Study:
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    return optuna.create_study(storage=storage, study_name="s")


def test_trial_ids_are_the_storages_ids_for_asked_and_frozen_trials(study: optuna.Study) -> None:
    asked = study.ask()
    (frozen,) = study.get_trials(deepcopy=False)
    expected = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, 0)
    assert trial_id(asked) == trial_id(frozen) == expected


def test_another_processs_trial_is_failed_with_its_reason_through_the_storage(
    study: optuna.Study,
) -> None:
    asked = study.ask()
    (frozen,) = study.get_trials(deepcopy=False)
    assert _fail_trial(study, frozen, "its process stopped")
    (failed,) = study.get_trials(deepcopy=False)
    assert failed.state == TrialState.FAIL and failed.user_attrs["reason"] == "its process stopped"
    assert not _fail_trial(study, failed, "again")  # finished trials stay as they are
    # What dltrain.tune.study._tell expects when another process got there first: its first
    # write, a user attribute, raises this (Study.tell itself would raise a plain ValueError).
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        asked.set_user_attr("state", "complete")
    # _tell also accepts Study.tell's plain ValueError, but only for a trial the storage holds
    # as finished (is_finished); a running one is not.
    with pytest.raises((optuna.exceptions.UpdateFinishedTrialError, ValueError)):
        study.tell(asked, 1.0)
    assert is_finished(study, asked)
    assert not is_finished(study, study.ask())


def test_a_trial_of_a_gone_local_process_is_failed_at_once(study: optuna.Study) -> None:
    trial = study.ask()
    me = this_process()
    trial.set_user_attr("host", me["host"])
    trial.set_user_attr("pid", 2**22 + 1)  # above Linux's pid_max: no such process
    (record,) = current_trials(study)
    assert record.state == TrialState.FAIL
    assert "stopped during the trial" in record.user_attrs["reason"]


def test_heartbeats_and_stale_trials_are_optunas_public_storage_api(study: optuna.Study) -> None:
    storage = study._storage  # Optuna wraps the RDBStorage in its cache
    trial = study.ask()
    storage.record_heartbeat(trial_id(trial))
    assert storage.get_heartbeat_interval() is not None and GRACE_S > 0
    fail_stale(study)  # just beaten: stays running
    assert study.get_trials(deepcopy=False)[0].state == TrialState.RUNNING


def test_the_grid_samplers_after_trial_still_has_the_signature_we_override() -> None:
    names = list(inspect.signature(optuna.samplers.GridSampler.after_trial).parameters)
    assert names == ["self", "study", "trial", "state", "values"]
    sampler = make_sampler("grid", 0, {"x": [1, 2]})
    assert isinstance(sampler, optuna.samplers.GridSampler)
