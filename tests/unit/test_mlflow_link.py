"""The MLflow run a tracked run went to is named with its page (issue 25 N17)."""

from __future__ import annotations

from dltrain.storage.manifest import MlflowRecord


def test_an_http_server_gives_the_runs_page_and_a_database_only_the_id() -> None:
    record = MlflowRecord(uri="http://127.0.0.1:5000/", experiment_id="3", run_id="ab12")
    assert record.web_url() == "http://127.0.0.1:5000/#/experiments/3/runs/ab12"
    assert record.describe() == "run ab12: http://127.0.0.1:5000/#/experiments/3/runs/ab12"
    stored = MlflowRecord(uri="sqlite:///mlflow.db", experiment_id="1", run_id="cd34")
    assert stored.web_url() is None
    assert stored.describe() == "run cd34: sqlite:///mlflow.db"
