"""Every stop and fault ends in a truthful run that ``--resume`` can finish (issue: faults).

A module-scoped run is trained once; each test copies it and damages the copy the way a
kill, a full disk or a hand edit would.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import keras
import pytest
import yaml
from datagen import TINY_MLP
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment
from dltrain.errors import DiskFullError

runner = CliRunner()

CONFIG = "name: faults\n" + TINY_MLP + """\
callbacks: {{checkpoint: {{monitor: loss}}}}
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datagen import write_mnist_npz

    folder = tmp_path_factory.mktemp("faults")
    path = folder / "c.yaml"
    path.write_text(CONFIG.format(path=write_mnist_npz(folder / "m.npz", n_train=400, n_test=64)))
    return path


@pytest.fixture(scope="module")
def trained(config: Path) -> Path:
    result = run_experiment(config, runs_dir=config.parent / "runs")
    assert result.status == "completed"
    return result.run_dir


@pytest.fixture
def run(trained: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "faults" / trained.name
    shutil.copytree(trained, copy)
    return copy


def manifest(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "run.json").read_text())


def metrics(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def resume(run_dir: Path, *args: str) -> Any:
    return runner.invoke(app, ["run", "--resume", str(run_dir), *args])


def test_forced_resume_applies_optimizer_changes_from_the_next_epoch(run: Path) -> None:
    result = resume(run, "--set", "training.epochs=3", "--set",
                    "optimizer.learning_rate=0.5", "--force")
    assert result.exit_code == 0, result.output
    rows = metrics(run)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert float(rows[1]["learning_rate"]) == pytest.approx(0.001)
    assert float(rows[2]["learning_rate"]) == pytest.approx(0.5)  # used, not only recorded
    assert yaml.safe_load((run / "config.yaml").read_text())["optimizer"]["learning_rate"] == 0.5
    assert manifest(run)["resumes"][-1]["drift"][0]["key"] == "optimizer.learning_rate"
    assert manifest(run)["workers"] == 1 and manifest(run)["resumes"][-1]["workers"] == 1


def test_forced_resume_refuses_what_it_cannot_apply(run: Path) -> None:
    before = (run / "config.yaml").read_text()
    result = resume(run, "--set", "training.epochs=3", "--set",
                    "model.layers[1].Dense.units=8", "--force")
    assert result.exit_code == 2, result.output
    assert "cannot apply" in result.output and "model.layers[1].Dense.units" in result.output
    assert (run / "config.yaml").read_text() == before and len(metrics(run)) == 2


def test_a_hand_edited_config_is_noticed(run: Path) -> None:
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("learning_rate: 0.001", "learning_rate: 0.5"))
    result = resume(run, "--set", "training.epochs=3")
    assert result.exit_code == 2 and "changed since the run wrote it" in result.output


def test_a_run_stopped_after_its_last_epoch_is_finished_by_resume(run: Path) -> None:
    # As SIGKILL during the test pass leaves it: running, no test metrics, no plots.
    data = manifest(run)
    data.update(status="running", test_checkpoint=None)
    data["final_metrics"].pop("test")
    (run / "run.json").write_text(json.dumps(data))
    shutil.rmtree(run / "plots")
    result = resume(run)
    assert result.exit_code == 0, result.output
    done = manifest(run)
    assert done["status"] == "completed" and "accuracy" in done["final_metrics"]["test"]
    assert (run / "plots" / "confusion_matrix.png").is_file() and len(metrics(run)) == 2


def test_best_checkpoint_and_manifest_are_made_to_agree(run: Path) -> None:
    # Killed between publishing best.keras and run.json: they disagree until resume.
    shutil.copyfile(run / "checkpoints/resume/epoch-00001/model.keras",
                    run / "checkpoints" / "best.keras")
    data = manifest(run)
    data.update(status="running", best={**data["best"], "epoch": 1})
    (run / "run.json").write_text(json.dumps(data))
    assert resume(run).exit_code == 0
    point = run / "checkpoints/resume/epoch-00002"
    saved_best = json.loads((point / "state.json").read_text())["best"]
    assert manifest(run)["best"]["epoch"] == saved_best["epoch"]
    assert (run / "checkpoints/best.keras").read_bytes() == (point / "best.keras").read_bytes()


def test_a_damaged_newest_resume_point_falls_back_to_the_one_before(run: Path) -> None:
    newest = run / "checkpoints/resume/epoch-00002/model.keras"
    newest.write_bytes(newest.read_bytes()[:1000])
    result = resume(run, "--set", "training.epochs=3")
    assert result.exit_code == 0, result.output
    assert "passed over a damaged resume point" in result.output
    assert [r["epoch"] for r in metrics(run)] == ["1", "2", "3"]


def test_leftovers_are_removed_and_lost_metrics_rebuilt(run: Path) -> None:
    (run / "checkpoints/resume/.tmp-00003-4242").mkdir()
    (run / "checkpoints/.best.4242-0.tmp.keras").write_bytes(b"half")
    (run / "metrics.csv").unlink()
    result = resume(run, "--set", "training.epochs=3")
    assert result.exit_code == 0, result.output
    assert "rebuilt from the resume point" in result.output
    assert [r["epoch"] for r in metrics(run)] == ["1", "2", "3"]
    leftovers = [p for p in run.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


class _FullDisk(keras.callbacks.Callback):
    """Fails the second epoch's end as a full disk does, from inside the training loop."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == 1:
            raise OSError(errno.ENOSPC, "No space left on device", "checkpoints/best.keras")


def test_disk_full_mid_training_fails_clearly_and_resumes(config: Path, tmp_path: Path) -> None:
    with pytest.raises(DiskFullError) as info:
        run_experiment(config, runs_dir=tmp_path, callbacks=[_FullDisk()])
    (run_dir,) = (tmp_path / "faults").iterdir()
    assert "disk full: could not write checkpoints/best.keras" in str(info.value)
    assert manifest(run_dir)["status"] == "failed"
    assert [p for p in run_dir.rglob("*") if ".tmp" in p.name] == []
    result = resume(run_dir)
    assert result.exit_code == 0, result.output
    assert manifest(run_dir)["status"] == "completed" and len(metrics(run_dir)) == 2


def test_disk_full_under_the_plots_fails_the_run_and_keeps_the_test_metrics(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dltrain.report.plots as plots

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", f"{path}.tmp")

    monkeypatch.setattr(plots, "atomic_write_bytes", full_disk)  # only the plots are refused
    result = runner.invoke(app, ["run", str(config), "--runs-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    (run_dir,) = (tmp_path / "faults").iterdir()
    assert "disk full: could not write" in result.output and "plots" in result.output
    assert "--resume" in result.output and "Traceback" not in result.output
    record = manifest(run_dir)
    assert record["status"] == "failed" and record["error"].startswith("disk full")
    assert set(record["final_metrics"]["test"]) >= {"loss"}  # computed before the plots
    monkeypatch.undo()
    assert resume(run_dir).exit_code == 0
    assert manifest(run_dir)["status"] == "completed"


class _SigtermAfterTheLastBatch(keras.callbacks.Callback):
    """A SIGTERM that lands after the last batch, when no batch boundary will read it."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_after_the_last_batch_interrupts_and_resumes(config: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt, match="stopped by SIGTERM"):
        run_experiment(config, runs_dir=tmp_path, callbacks=[_SigtermAfterTheLastBatch()])
    (run_dir,) = (tmp_path / "faults").iterdir()
    record = manifest(run_dir)
    assert record["status"] == "interrupted" and "stopped by SIGTERM" in record["error"]
    assert "test" not in record["final_metrics"]  # the test pass did not run
    result = resume(run_dir)
    assert result.exit_code == 0, result.output
    assert manifest(run_dir)["status"] == "completed" and len(metrics(run_dir)) == 2


def test_best_keras_damaged_in_place_leaves_the_resume_point_intact(
    config: Path, tmp_path: Path
) -> None:
    from dltrain.storage.resume_point import archive_damage

    run_dir = run_experiment(config, runs_dir=tmp_path).run_dir
    rows = metrics(run_dir)
    for name in ("best.keras", "last.keras"):  # damaged in place, as `truncate -s 1000` does
        os.truncate(run_dir / "checkpoints" / name, 1000)
    point = run_dir / "checkpoints/resume/epoch-00002"
    assert archive_damage(point / "best.keras") is None
    assert archive_damage(point / "model.keras") is None
    result = resume(run_dir, "--set", "training.epochs=3")
    assert result.exit_code == 0, result.output
    assert "passed over" not in result.output
    assert metrics(run_dir)[:2] == rows  # the intact epoch 2 was kept, not retrained
    assert archive_damage(run_dir / "checkpoints" / "best.keras") is None
