"""MLflow tracking against a real ``mlflow server`` (SQLite store, local artifact root).

The server is started once for the module (it takes tens of seconds on a busy machine); each
test writes into its own experiment and reads back through ``mlflow.MlflowClient``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import mlflow
import pytest
from datagen import TINY_MLP
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import resume_experiment, run_experiment
from dltrain.errors import ConfigError
from dltrain.tracking import study_run
from dltrain.tracking.settings import settings_from
from dltrain.tracking.upload import config_params, mlflow_key
from dltrain.utils.urls import public_url

runner = CliRunner()

CONFIG = "name: tracked\n" + TINY_MLP + """\
tracking:
  mlflow: {{experiment: {experiment}, tags: {{team: vision}}, log_models: true}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not answer in {limit} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real tracking server on a free local port; stopped after the module."""
    folder = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    log = folder / "server.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with log.open("wb") as out:
        # Its own session, so the uvicorn worker it starts is stopped with it.
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc, log, limit=240)
        yield url
    finally:
        # Nothing of the server outlives the module (its store is in a temporary folder), and
        # uvicorn's graceful stop waits for the clients' keep-alive connections: it sat out the
        # whole 30 s here. A short grace, then SIGKILL.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datagen import write_mnist_npz

    return write_mnist_npz(tmp_path_factory.mktemp("data") / "m.npz", n_train=300, n_test=64)


# For the tests that check no artifacts: no plots drawn, no checkpoint uploaded (the first
# test checks both); what they check (runs, statuses, steps, params, tags) is the same.
LIGHT = ["output.plots=false", "tracking.mlflow.log_models=false"]


def _config(tmp_path: Path, data: Path, experiment: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(path=data, experiment=experiment))
    return path


class Sink:
    """A progress sink that keeps the messages."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def start(self, *, epochs: int, start_epoch: int, steps: int) -> None: ...
    def batch(self, epoch: int, step: int, logs: dict[str, Any]) -> None: ...
    def epoch(self, epoch: int, row: dict[str, float]) -> None: ...
    def message(self, text: str) -> None:
        self.messages.append(text)

    def stop(self) -> None: ...


def _manifest(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "run.json").read_text()))


def _csv_columns(run_dir: Path) -> list[str]:
    return (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")


def _steps(client: Any, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def _artifacts(client: Any, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


# ------------------------------------------------------------------- no server needed


def test_params_use_the_set_keys_within_mlflow_limits() -> None:
    params = config_params(
        {
            "model": {"layers": [{"Dense": {"units": 16}}]},
            "optimizer": {"learning_rate": 1e-5},
            "description": "x" * 7000,
            "tracking": {"mlflow": {"uri": "http://secret"}},
        }
    )
    assert params["model.layers.0.Dense.units"] == "16"
    assert params["optimizer.learning_rate"] == "1e-5"
    assert len(params["description"]) == 6000 and params["description"].endswith("...")
    assert not any(k.startswith("tracking") for k in params)
    assert mlflow_key("out[a]/loss?") == "out_a_/loss_"
    assert public_url("https://me:secret@mlflow.example:5000/x") == "https://me@mlflow.example:5000/x"


def test_tracking_section_is_strict_and_the_server_comes_from_cli_config_env_record(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dltrain.config import load_config

    config = _config(tmp_path, data, "x")
    with pytest.raises(ConfigError) as info:
        load_config(config, ["tracking.mlflow.log_model=true"])
    assert "tracking.mlflow.log_model" in info.value.render() and "log_models" in info.value.render()
    assert load_config(config, ["tracking.mlflow=true"]).config.tracking.mlflow.log_models is False

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert settings_from({"name": "x"}) is None  # the variable alone does not turn it on
    resolved = load_config(config).to_dict()
    assert settings_from(resolved, recorded_uri="http://old:5000").uri == "http://env:5000"
    resolved["tracking"]["mlflow"]["uri"] = "http://config:5000"
    assert settings_from(resolved).uri == "http://config:5000"
    assert settings_from(resolved).experiment == "x" and settings_from(resolved).tags == {"team": "vision"}
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    del resolved["tracking"]["mlflow"]["uri"]
    assert settings_from(resolved, recorded_uri="http://old:5000").uri == "http://old:5000"


def test_tracking_without_the_extra_is_a_located_config_error(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now fails
    config = _config(tmp_path, data, "x")
    with pytest.raises(ConfigError) as info:
        run_experiment(
            config, ["tracking.mlflow.uri=http://127.0.0.1:1"], runs_dir=tmp_path / "runs"
        )
    text = info.value.render()
    assert "pip install 'dltrain[mlflow]'" in text and "tracking.mlflow" in text
    assert f"{config}:" in text  # file:line of the section
    assert not (tmp_path / "runs").exists()


def test_tracking_without_a_server_is_a_config_error(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = runner.invoke(
        app, ["run", str(_config(tmp_path, data, "x")), "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2, result.output
    assert "no MLflow tracking server given" in result.output
    assert "--mlflow URI" in result.output and "Traceback" not in result.output
    checked = runner.invoke(app, ["check", str(_config(tmp_path, data, "x"))])
    assert checked.exit_code == 2 and "no MLflow tracking server given" in checked.output


BAD_URIS = [
    "file:///tmp/mlruns",
    "plain/path",
    "garbage!!:://x y",
    "ftp://127.0.0.1/x",
    "http://[::1",
]


@pytest.mark.parametrize("uri", BAD_URIS)
def test_a_uri_mlflow_cannot_track_to_is_refused_before_a_folder_exists(
    uri: str, tmp_path: Path, data: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    runs = tmp_path / "runs"
    config = _config(tmp_path, data, "x")
    result = runner.invoke(app, ["run", str(config), "--runs-dir", str(runs), "--mlflow", uri])
    assert result.exit_code == 2, result.output
    assert "tracking.mlflow.uri" in result.output and repr(uri) in result.output
    assert "expected an http(s) server" in result.output and "Traceback" not in result.output
    if uri.startswith(("file:", "plain")):
        assert "MLFLOW_ALLOW_FILE_STORE=true" in result.output
    assert not runs.exists()

    from tune_configs import GOOD_SPACE, write_tune

    tune = write_tune(tmp_path, regression_csv, GOOD_SPACE + "trials: 1\n")
    tuned = runner.invoke(
        app, ["tune", str(tune), "--runs-dir", str(runs), "--set", f"tracking.mlflow.uri={uri}"]
    )
    assert tuned.exit_code == 2, tuned.output
    assert repr(uri) in tuned.output and "Traceback" not in tuned.output
    assert not runs.exists()


def test_mlflow_database_engines_are_mlflows() -> None:
    from mlflow.store.db.db_types import DATABASE_ENGINES as MLFLOW_ENGINES

    from dltrain.tracking.settings import DATABASE_ENGINES, uri_problem

    assert set(DATABASE_ENGINES) == set(MLFLOW_ENGINES)
    assert uri_problem("sqlite:///mlflow.db") is None
    assert uri_problem("https://me:pw@mlflow.example:5000/x") is None


def test_a_bad_uri_leaves_a_completed_run_and_its_config_as_they_were(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = tmp_path / "plain.yaml"
    config.write_text("name: plain\n" + TINY_MLP.format(path=data))
    done = run_experiment(
        config, ["training.epochs=1", "output.plots=false"], runs_dir=tmp_path / "runs"
    )
    assert done.status == "completed"
    before = {name: (done.run_dir / name).read_bytes() for name in ("run.json", "config.yaml")}
    for uri in BAD_URIS:
        result = runner.invoke(
            app,
            ["run", "--resume", str(done.run_dir), "--set", "training.epochs=3", "--mlflow", uri],
        )
        assert result.exit_code == 2, result.output
        assert repr(uri) in result.output and "Traceback" not in result.output
        synced = runner.invoke(app, ["sync", str(done.run_dir), "--mlflow", uri])
        assert synced.exit_code == 2, synced.output
        assert "--mlflow" in synced.output and repr(uri) in synced.output
    after = {name: (done.run_dir / name).read_bytes() for name in ("run.json", "config.yaml")}
    assert after == before and _manifest(done.run_dir)["status"] == "completed"


# ---------------------------------------------------------------------- a real server


@pytest.mark.slow
def test_a_run_is_logged_with_params_metrics_artifacts_and_status(
    server: str, tmp_path: Path, data: Path
) -> None:
    config = _config(tmp_path, data, "logged")
    result = runner.invoke(
        app, ["run", str(config), "--mlflow", server, "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "runs" / "tracked").iterdir())
    record = _manifest(run_dir)["mlflow"]
    assert record["uri"] == server

    client = mlflow.MlflowClient(server)
    run = client.get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "logged"
    # The MLflow run is named with its page, as training starts and last (issue 25 N17).
    url = f"{server}/#/experiments/{run.info.experiment_id}/runs/{record['run_id']}"
    assert result.output.count(f"mlflow: run {record['run_id']}: {url}") == 2, result.output
    assert result.output.rstrip().endswith(url)
    params = run.data.params
    assert params["training.epochs"] == "2"
    assert params["model.layers.1.Dense.units"] == "16"
    assert params["optimizer.learning_rate"] == "0.001"
    tags = run.data.tags
    assert tags["dltrain.seed"] == "3" and tags["team"] == "vision"
    assert len(tags["dltrain.data_fingerprint"]) == 64
    assert tags["dltrain.version.keras"] == keras.__version__
    for column in _csv_columns(run_dir):
        if column != "epoch":
            assert _steps(client, run.info.run_id, column) == [1, 2], column
    assert run.data.metrics["test_accuracy"] == pytest.approx(
        _manifest(run_dir)["final_metrics"]["test"]["accuracy"]
    )
    top = _artifacts(client, run.info.run_id)
    assert {"config.yaml", "model.txt", "run.json", "plots", "checkpoints"} <= top
    assert "plots/loss.png" in _artifacts(client, run.info.run_id, "plots")
    assert "checkpoints/best.keras" in _artifacts(client, run.info.run_id, "checkpoints")


@pytest.mark.slow
def test_resume_continues_the_same_mlflow_run(server: str, tmp_path: Path, data: Path) -> None:
    config = _config(tmp_path, data, "resumed")
    first = run_experiment(
        config,
        ["training.epochs=1", f"tracking.mlflow.uri={server}", *LIGHT],
        runs_dir=tmp_path / "runs",
    )
    run_id = _manifest(first.run_dir)["mlflow"]["run_id"]
    second = resume_experiment(first.run_dir, ["training.epochs=2"])
    assert second.status == "completed"
    assert _manifest(first.run_dir)["mlflow"]["run_id"] == run_id

    client = mlflow.MlflowClient(server)
    experiment = client.get_experiment_by_name("resumed")
    assert [r.info.run_id for r in client.search_runs([experiment.experiment_id])] == [run_id]
    assert client.get_run(run_id).info.status == "FINISHED"
    assert _steps(client, run_id, "val_loss") == [1, 2]
    assert client.get_run(run_id).data.params["training.epochs"] == "1"
    assert client.get_run(run_id).data.tags["changed_on_resume.training.epochs"] == "2"


class _CtrlC(keras.callbacks.Callback):
    """Ctrl-C after the first epoch."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.slow
def test_interrupted_and_failed_runs_are_killed_and_failed(
    server: str, tmp_path: Path, data: Path
) -> None:
    config = _config(tmp_path, data, "ended")
    uri = f"tracking.mlflow.uri={server}"
    stopped = run_experiment(
        config, [uri, "training.epochs=3", *LIGHT], runs_dir=tmp_path / "runs", callbacks=[_CtrlC()]
    )
    assert stopped.status == "interrupted"
    failed = run_experiment(
        config, [uri, "optimizer.learning_rate=1.0e+30", *LIGHT], runs_dir=tmp_path / "runs"
    )
    assert failed.status == "failed"

    client = mlflow.MlflowClient(server)
    for result, status in ((stopped, "KILLED"), (failed, "FAILED")):
        run_id = _manifest(result.run_dir)["mlflow"]["run_id"]
        assert client.get_run(run_id).info.status == status
    assert _steps(client, _manifest(stopped.run_dir)["mlflow"]["run_id"], "loss") == [1]


@pytest.mark.slow
def test_an_unreachable_server_keeps_the_run_and_sync_uploads_it_later(
    server: str, tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)  # the config names no server: the env does
    sink = Sink()
    started = time.monotonic()
    result = run_experiment(
        _config(tmp_path, data, "synced"), runs_dir=tmp_path / "runs", progress=sink
    )
    assert result.status == "completed" and time.monotonic() - started < 120
    assert any("could not" in m and dead in m for m in sink.messages), sink.messages
    assert any(f"dltrain sync {result.run_dir} --mlflow {dead}" in m for m in sink.messages)
    assert "mlflow" not in _manifest(result.run_dir) or _manifest(result.run_dir)["mlflow"] is None

    first = runner.invoke(app, ["sync", str(result.run_dir), "--mlflow", server])
    assert first.exit_code == 0, first.output
    assert "uploaded:" in first.output
    run_id = _manifest(result.run_dir)["mlflow"]["run_id"]
    experiment_id = _manifest(result.run_dir)["mlflow"]["experiment_id"]
    assert f"{server}/#/experiments/{experiment_id}/runs/{run_id}" in first.output, first.output
    again = runner.invoke(app, ["sync", str(result.run_dir), "--mlflow", server])
    assert again.exit_code == 0 and "updated:" in again.output and run_id in again.output

    client = mlflow.MlflowClient(server)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert _steps(client, run_id, "val_accuracy") == [1, 2]  # not logged twice
    assert "run.json" in _artifacts(client, run_id)
    experiment = client.get_experiment_by_name("synced")
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_sync_to_a_dead_server_is_an_error(tmp_path: Path, data: Path) -> None:
    run_dir = tmp_path / "runs" / "x" / "20260101T000000Z"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"status": "completed", "name": "x"}))
    (run_dir / "config.yaml").write_text("name: x\n")
    dead = f"http://127.0.0.1:{_free_port()}"
    result = runner.invoke(app, ["sync", str(run_dir), "--mlflow", dead])
    assert result.exit_code == 1, result.output
    assert f"MLflow at {dead}: could not" in result.output and "Traceback" not in result.output


class _Proxy:
    """A TCP relay to the server that can be cut (the server "goes down") and restored."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit("//", 1)[1].split(":")
        self.target = (host, int(port))
        self.port = _free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        assert self.listener is not None
        # shutdown() wakes the thread blocked in accept(); close() alone would not on Linux.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.sockets.clear()


class _CutAfterFirstEpoch(keras.callbacks.Callback):
    def __init__(self, proxy: _Proxy) -> None:
        super().__init__()
        self.proxy = proxy

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == 1:  # runs before the tracking callback: epoch 1 was logged, 2 is not
            self.proxy.cut()


@pytest.mark.slow
def test_the_server_going_down_mid_run_does_not_fail_it(
    server: str, tmp_path: Path, data: Path
) -> None:
    proxy = _Proxy(server)
    proxy.start()
    sink = Sink()
    result = run_experiment(
        _config(tmp_path, data, "cut"),
        ["training.epochs=3", f"tracking.mlflow.uri={proxy.url}", *LIGHT],
        runs_dir=tmp_path / "runs",
        progress=sink,
        callbacks=[_CutAfterFirstEpoch(proxy)],
    )
    assert result.status == "completed" and result.epochs_completed == 3
    assert any("could not log epoch 2" in m for m in sink.messages), sink.messages
    run_id = _manifest(result.run_dir)["mlflow"]["run_id"]
    client = mlflow.MlflowClient(server)
    assert _steps(client, run_id, "loss") == [1]
    assert client.get_run(run_id).info.status == "RUNNING"

    proxy.start()  # the server is back: sync continues the same MLflow run
    synced = runner.invoke(app, ["sync", str(result.run_dir)])  # server from config.yaml
    proxy.cut()
    assert synced.exit_code == 0, synced.output
    assert "updated:" in synced.output
    assert _steps(client, run_id, "loss") == [1, 2, 3]
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.mark.slow
def test_a_study_has_nested_trials_and_tags_the_best(
    server: str, tmp_path: Path, data: Path
) -> None:
    config = _config(tmp_path, data, "ignored")  # a trial goes into the study's experiment
    with study_run(server, "study", "study-1", direction="maximize") as study:
        for units in (4, 16):
            with study.trial():
                result = run_experiment(
                    config,
                    ["training.epochs=1", f"model.layers[1].Dense.units={units}", *LIGHT],
                    runs_dir=tmp_path / "runs",
                )
            study.record(result.run_dir, float(units), params={"units": units})
    client = mlflow.MlflowClient(server)
    parent = client.get_run(study.run_id)
    assert parent.info.status == "FINISHED"
    experiment = client.get_experiment_by_name("study")
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{study.run_id}'"
    )
    assert len(children) == 2
    best = next(c for c in children if c.data.params["trial.units"] == "16")
    assert best.data.tags.get("dltrain.best_trial") == "true"
    assert parent.data.tags["best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_value"] == 16.0
    assert best.data.metrics["objective"] == 16.0


def _tracked_study(
    server: str,
    tmp_path: Path,
    csv: Path,
    experiment: str,
    overrides: Sequence[str] = (),
    epochs: int = 2,
) -> tuple[Any, Any, list[Any]]:
    """``dltrain.tune`` of 2 trials tracked in ``experiment``: its summary, parent, children."""
    from test_tune_study import write_study_config

    import dltrain

    config = write_study_config(tmp_path, csv, epochs=epochs, trials=2)
    config.write_text(
        config.read_text()
        + f"tracking: {{mlflow: {{uri: '{server}', experiment: {experiment}, log_models: false}}}}\n"
    )
    summary = dltrain.tune(config, list(overrides), runs_dir=tmp_path / "runs")
    assert summary.exit_code == 0 and summary.best is not None
    client = mlflow.MlflowClient(server)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return summary, parent, children


@pytest.mark.slow
def test_dltrain_tune_logs_the_study_as_a_parent_with_trials_as_children(
    server: str, tmp_path: Path, regression_csv: Path
) -> None:
    summary, parent, children = _tracked_study(server, tmp_path, regression_csv, "tuned")
    assert parent.info.status == "FINISHED" and len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    best = [c for c in children if c.data.tags.get("dltrain.best_trial") == "true"]
    assert len(best) == 1 and parent.data.tags["best_run_id"] == best[0].info.run_id
    assert parent.data.metrics["best_value"] == pytest.approx(summary.best["value"])


@pytest.mark.slow
def test_a_tuned_trial_on_several_seeds_logs_each_seed_run_with_the_trial_value(
    server: str, tmp_path: Path, regression_csv: Path
) -> None:
    summary, parent, children = _tracked_study(
        server, tmp_path, regression_csv, "seeded", ["tune.seeds=2"], epochs=1
    )
    assert len(children) == 4  # 2 trials x 2 seeds, each an ordinary run
    by_trial: dict[tuple[str, ...], list[Any]] = {}
    for child in children:
        assert child.info.status == "FINISHED"
        params = tuple(sorted(v for k, v in child.data.params.items() if k.startswith("trial.")))
        assert len(params) == 2, child.data.params  # the trial's values, on every seed's run
        by_trial.setdefault(params, []).append(child)
    assert sorted(len(seeded) for seeded in by_trial.values()) == [2, 2]
    for seeded in by_trial.values():  # both seeds carry the trial's value: their mean
        assert seeded[0].data.metrics["objective"] == seeded[1].data.metrics["objective"]
    best = [c for c in children if c.data.tags.get("dltrain.best_trial") == "true"]
    assert len(best) == 1 and parent.data.tags["best_run_id"] == best[0].info.run_id
    assert best[0].data.metrics["objective"] == pytest.approx(summary.best["value"])
    # The tagged run is the best trial's first seed's, the folder study.json names.
    study_dir = tmp_path / "runs" / "reg_tune" / "reg_tune"
    study = json.loads((study_dir / "study.json").read_text())
    first_seed = (study_dir / study["best"]["run_dir"]).resolve()
    assert best[0].data.tags["dltrain.run_dir"] == str(first_seed)
