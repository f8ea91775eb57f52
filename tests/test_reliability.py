"""Resume after SIGKILL, Ctrl-C, determinism, collision-free folders, hostile inputs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import keras
import pytest
from datagen import tiny_mlp, write_mnist_npz
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment
from dltrain.storage import RunFolder

runner = CliRunner()

# The model of every test here: deterministic, with dropout, early stopping and reduce-LR.
# No plots: no test here reads them (test_run.py and test_faults.py check a run's and a
# resumed run's plots).
CONFIG = tiny_mlp(
    name="rel", seed=7, validation=0.1, units=32, dropout=0.3, learning_rate=0.0005,
    epochs=6, batch_size=8,
) + """\
deterministic: true
callbacks:
  early_stopping: {{patience: 4, monitor: val_accuracy}}
  reduce_lr: {{patience: 1, factor: 0.5}}
output: {{plots: false}}
"""


def losses(run_dir: Path) -> list[tuple[int, str, str]]:
    with (run_dir / "metrics.csv").open() as handle:
        return [(int(r["epoch"]), r["loss"], r["val_loss"]) for r in csv.DictReader(handle)]


def _write_config(folder: Path, n_train: int) -> Path:
    npz = write_mnist_npz(folder / "m.npz", n_train=n_train, n_test=100)
    path = folder / "c.yaml"
    path.write_text(CONFIG.format(path=npz))
    return path


@pytest.fixture(scope="module")
def long_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,600 images in batches of 8 (180 steps an epoch) for the runs that get a signal: a
    SIGKILL after epoch 2, or a Ctrl-C after epoch 1, always lands before the run ends."""
    return _write_config(tmp_path_factory.mktemp("rel-long"), n_train=1600)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model on 400 images (45 steps an epoch), for the runs in this process."""
    return _write_config(tmp_path_factory.mktemp("rel"), n_train=400)


@pytest.fixture(scope="module")
def trained(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One completed 1-epoch run, trained once; tests that change it get a copy (``run``)."""
    result = run_experiment(
        config, ["training.epochs=1"], runs_dir=tmp_path_factory.mktemp("rel-runs")
    )
    assert result.status == "completed"
    return result.run_dir


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "r" / "rel" / trained.name
    shutil.copytree(trained, copy)
    return copy


def start(config: Path, runs: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CI": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "dltrain", "run", str(config), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_epoch(
    runs: Path, epoch: int, proc: subprocess.Popen[str], timeout: float = 120
) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        points = list(runs.glob(f"rel/*/checkpoints/resume/epoch-{epoch:05d}"))
        if points:
            return points[0].parents[2]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"epoch {epoch} never finished")


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(
    long_config: Path, tmp_path: Path
) -> None:
    reference = run_experiment(long_config, runs_dir=tmp_path / "ref")
    assert reference.status == "completed"

    proc = start(long_config, tmp_path / "runs")
    run_dir = wait_for_epoch(tmp_path / "runs", 2, proc)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.communicate()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output
    assert losses(run_dir) == losses(reference.run_dir)  # every epoch, bit for bit
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed" and manifest["resumes"][0]["from_epoch"] >= 2


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resumes(long_config: Path, tmp_path: Path) -> None:
    proc = start(long_config, tmp_path / "runs")
    run_dir = wait_for_epoch(tmp_path / "runs", 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "dltrain run --resume" in out
    assert "Traceback" not in err
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "interrupted"
    assert (run_dir / "checkpoints" / "last.keras").is_file()
    done = manifest["epochs_completed"]
    assert [r[0] for r in losses(run_dir)] == list(range(1, done + 1))

    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output
    epochs = [r[0] for r in losses(run_dir)]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= done


class _CtrlCTwice(keras.callbacks.Callback):
    """Presses Ctrl-C twice during the second epoch, the second while the first is pending.

    ``os.kill`` on our own process runs the handler before it returns, so the first press has
    asked for a clean stop when the second arrives: the second-Ctrl-C path, every time.
    """

    fired = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, object] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, object] | None = None) -> None:
        # Keras calls this once per execution of `steps_per_execution` batches.
        if self.epoch == 1 and not self.fired:
            self.fired = True
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)


def test_second_ctrl_c_exits_at_once_leaving_a_readable_folder(
    config: Path, tmp_path: Path
) -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, runs_dir=tmp_path / "runs", callbacks=[_CtrlCTwice()])
    (run_dir,) = (tmp_path / "runs" / "rel").iterdir()
    manifest = json.loads((run_dir / "run.json").read_text())  # still whole JSON
    assert manifest["status"] == "interrupted"
    # The second-Ctrl-C path ran (a single Ctrl-C records where it stopped instead).
    assert manifest["error"].startswith("interrupted twice: stopped at once")
    assert (run_dir / "checkpoints" / "resume" / "epoch-00001" / "model.keras").is_file()
    # Handlers put back as they were (not necessarily Python's default: in a long -n 2
    # session SIGINT was once found ignored before this test, by a cause not yet found).
    assert signal.getsignal(signal.SIGINT) is before


def test_determinism_gives_identical_losses(config: Path, tmp_path: Path) -> None:
    first = run_experiment(config, ["training.epochs=2"], runs_dir=tmp_path / "a")
    second = run_experiment(config, ["training.epochs=2"], runs_dir=tmp_path / "a")
    assert first.run_dir != second.run_dir
    assert losses(first.run_dir) == losses(second.run_dir)
    assert json.loads((first.run_dir / "run.json").read_text())["deterministic"] is True


def test_resume_policy(run: Path) -> None:
    again = runner.invoke(app, ["run", "--resume", str(run)])
    assert again.exit_code == 2 and "already trained 1 of 1" in again.output
    refused = runner.invoke(
        app,
        [
            "run",
            "--resume",
            str(run),
            "--set",
            "training.epochs=2",
            "--set",
            "optimizer.learning_rate=0.1",
        ],
    )
    assert refused.exit_code == 2
    assert (
        "optimizer.learning_rate: 0.0005 -> 0.1" in refused.output and "--force" in refused.output
    )
    extended = runner.invoke(
        app, ["run", "--resume", str(run), "--set", "training.epochs=2"]
    )
    assert extended.exit_code == 0, extended.output
    assert [r[0] for r in losses(run)] == [1, 2]
    forced = runner.invoke(
        app,
        [
            "run",
            "--resume",
            str(run),
            "--force",
            "--set",
            "training.epochs=3",
            "--set",
            "optimizer.learning_rate=0.001",
        ],
    )
    assert forced.exit_code == 0, forced.output
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["resumes"][-1]["drift"] == [
        {"key": "optimizer.learning_rate", "old": 0.0005, "new": 0.001}
    ]


def _create(args: tuple[str, str]) -> str:
    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    return str(RunFolder.create(Path(args[0]), args[1], clock=lambda: fixed).path)


def test_runs_started_in_the_same_second_get_different_folders(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=4) as pool:
        paths = list(pool.map(_create, [(str(tmp_path), "same")] * 8))
    assert len(set(paths)) == 8
    assert sorted(Path(p).name for p in paths)[:2] == ["20260102T030405Z", "20260102T030405Z-1"]


def test_corrupt_checkpoint_and_manifest_are_clear_errors(run: Path) -> None:
    best = run / "checkpoints" / "best.keras"
    best.write_bytes(best.read_bytes()[:500])  # truncated
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 2 and "best.keras" in result.output
    assert "Traceback" not in result.output

    (run / "run.json").write_text("{ not json")
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 2 and "run.json" in result.output
    (run / "run.json").unlink()
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 2 and "not a run folder" in result.output


def test_nan_rollback_lowers_the_learning_rate(tmp_path: Path, regression_csv: Path) -> None:
    config = tmp_path / "nan.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        data: {{kind: csv, path: {regression_csv}, target: y, categorical: [color]}}
        model: {{layers: [{{Dense: {{units: 1}}}}]}}
        optimizer: {{name: sgd, learning_rate: 1.0e+6}}
        training: {{epochs: 2, batch_size: 8, on_nan: rollback, max_rollbacks: 3, rollback_factor: 1.0e-9, jit_compile: false}}
        """)
    )
    result = run_experiment(config, runs_dir=tmp_path / "runs")
    assert result.status == "completed", result.message
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["rollbacks"] and manifest["rollbacks"][0]["learning_rate"] < 1.0
    assert [r[0] for r in losses(result.run_dir)] == [1, 2]


def test_resume_does_not_undo_early_stopping(config: Path, tmp_path: Path) -> None:
    stopped = run_experiment(
        config,
        ["callbacks.early_stopping={patience: 0, min_delta: 100.0}"],
        runs_dir=tmp_path / "r",
    )
    assert stopped.stopped_early and stopped.epochs_completed == 2
    refused = runner.invoke(app, ["run", "--resume", str(stopped.run_dir)])
    assert refused.exit_code == 2 and "stopped early after epoch 2" in refused.output


@pytest.mark.slow
def test_sigterm_as_run_json_appears_leaves_no_folder_that_cannot_resume(
    config: Path, tmp_path: Path
) -> None:
    for attempt in range(3):
        runs = tmp_path / f"runs{attempt}"
        proc = start(config, runs)
        deadline = time.monotonic() + 120
        while not list(runs.glob("rel/*/run.json")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.0005)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        for run_json in runs.glob("rel/*/run.json"):  # a folder left must be resumable
            record = json.loads(run_json.read_text())
            assert record["status"] == "interrupted", record
            assert (run_json.parent / "config.yaml").is_file()
