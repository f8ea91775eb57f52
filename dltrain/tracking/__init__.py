"""Experiment tracking in MLflow, besides the run folder (docs/tracking.md).

Importing this package imports neither TensorFlow nor MLflow; both come in when a tracked run
starts. The run folder is written exactly as without tracking, and a tracking server that is
down never fails a run: what could not be logged is said through the progress sink's
``message``, and :func:`sync_run` (``dltrain sync``) uploads the folder later.

Runs (used by :mod:`dltrain.engine.run`)::

    check_tracking(loaded)                        # before a run folder exists
    with tracked_run(loaded, run, sink) as callbacks:
        ...train with callbacks, write the report...  # end: files uploaded, status mirrored

Uploading a run folder again (idempotent: the MLflow run ``run.json`` records is updated)::

    sync_run(Path("runs/mlp/20260101T000000Z"), "http://127.0.0.1:5000")

Nested runs, for a tuner: the study is the parent run, each trial a child run::

    with study_run(uri, "mnist-tuning", "study-1", direction="maximize") as study:
        for trial in trials:
            with study.trial():               # runs started here are children of the study
                result = run_experiment(config, trial.overrides)
            study.record(result.run_dir, value, params=trial.params)  # logs `objective`
    # on exit the best child is tagged dltrain.best_trial=true, the parent gets best_run_id
    # and best_value, and its status is FINISHED (KILLED after Ctrl-C, FAILED on an error)
"""

from dltrain.tracking.nested import Study, active_study, study_run
from dltrain.tracking.session import SyncResult, check_tracking, sync_run, tracked_run
from dltrain.tracking.settings import EXTRA_HINT, TrackingSettings

__all__ = [
    "EXTRA_HINT",
    "Study",
    "SyncResult",
    "TrackingSettings",
    "active_study",
    "check_tracking",
    "study_run",
    "sync_run",
    "tracked_run",
]
