"""Studies that must not go on: another experiment (N1), a lost storage beside its trial folders
(M3), a timeout that is no number of seconds (L6). Real SQLite studies, faked trials."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from test_tune_loop import SPACE, fake_trials, plan_without_keras, study_module
from tune_configs import write_tune
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.errors import UsageError

runner = CliRunner()


@pytest.fixture
def fake_study(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[float]], None]:
    monkeypatch.setattr(study_module, "check_tune", plan_without_keras)

    def use(values: list[float]) -> None:
        monkeypatch.setattr(study_module, "run_trial", fake_trials(values))

    return use


def run_folders(study_dir: Path) -> list[Path]:
    return sorted(p.parent for p in study_dir.glob("trial-*/*/run.json"))


def test_a_study_refuses_to_go_on_with_another_experiment(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None]
) -> None:
    fake_study([3.0, 2.0, 4.0, 1.0, 5.0])
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    study_dir = runs / "reg_tune" / "reg_tune"
    first = study_module.tune_study(config, trials=2, runs_dir=runs)
    assert first.counts["complete"] == 2
    recorded = json.loads((study_dir / "study.json").read_text())["fingerprint"]
    assert isinstance(recorded, str) and len(recorded) == 64

    # The newcomer's probe: other --set values and another optimizer, then the Python call
    # that returned the old best without training.
    changed = ["training.epochs=1", "optimizer.name=sgd"]
    with pytest.raises(UsageError) as caught:
        study_module.tune_study(config, changed, trials=4, runs_dir=runs)
    message = caught.value.render()
    assert "study 'reg_tune' was run with another experiment" in message
    assert "  training.epochs: 2 -> 1" in message
    assert '  optimizer.name: "adam" -> "sgd"' in message
    assert "--study NEW" in message
    with pytest.raises(UsageError, match="another experiment"):
        study_module.tune_study(config, ["training.epochs=3"], trials=2, runs_dir=runs)
    assert len(run_folders(study_dir)) == 2  # nothing trained

    # What cannot change a trial's result, and the searched keys, change nothing.
    same = ["description=again", "optimizer.learning_rate=0.5", "output.plots=false"]
    again = study_module.tune_study(config, same, trials=3, runs_dir=runs)
    assert again.counts["complete"] == 3 and again.exit_code == 0

    # A new study name starts fresh with the changed experiment.
    fresh = study_module.tune_study(config, changed, trials=1, study="sgd", runs_dir=runs)
    assert fresh.counts["complete"] == 1
    assert len(run_folders(runs / "reg_tune" / "sgd")) == 1
    assert json.loads((runs / "reg_tune" / "sgd" / "study.json").read_text())["fingerprint"] != recorded


def test_the_command_shows_what_changed_and_exits_2(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None]
) -> None:
    fake_study([3.0, 2.0, 4.0])
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    study_module.tune_study(config, trials=1, runs_dir=runs)
    args = ["tune", str(config), "--runs-dir", str(runs), "--set", "training.epochs=5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "training.epochs: 2 -> 5" in result.stderr and "--study NEW" in result.stderr
    assert "Traceback" not in result.output


def test_a_study_made_before_fingerprints_records_one_and_goes_on(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None]
) -> None:
    fake_study([3.0, 2.0, 4.0])
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    study_dir = runs / "reg_tune" / "reg_tune"
    study_dir.mkdir(parents=True)
    url = f"sqlite:///{study_dir / 'study.db'}"
    old = optuna.create_study(study_name="reg_tune", storage=url)  # as dltrain 0.2 made it
    old.set_user_attr("metric", "val_mae")

    summary = study_module.tune_study(config, trials=1, runs_dir=runs)
    assert summary.counts["complete"] == 1
    attrs = optuna.load_study(study_name="reg_tune", storage=url).user_attrs
    assert attrs["experiment"]["training.epochs"] == 2 and len(attrs["fingerprint"]) == 64
    with pytest.raises(UsageError, match="training.epochs: 2 -> 1"):
        study_module.tune_study(config, ["training.epochs=1"], trials=2, runs_dir=runs)


@pytest.mark.parametrize("lose", ["empty", "deleted"])
def test_a_lost_study_db_beside_trial_folders_is_refused(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None], lose: str
) -> None:
    fake_study([3.0, 2.0, 4.0, 1.0])
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    study_dir = runs / "reg_tune" / "reg_tune"
    study_module.tune_study(config, trials=3, runs_dir=runs)
    before = run_folders(study_dir)
    database = study_dir / "study.db"
    if lose == "empty":
        database.write_bytes(b"")  # the probe's `: > study.db`
    else:
        database.unlink()

    args = ["tune", str(config), "--runs-dir", str(runs), "--trials", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"error: {study_dir}: the study folder holds trial folders" in result.stderr
    assert "has no study 'reg_tune'" in result.stderr and "--study NEW" in result.stderr
    assert "Traceback" not in result.output
    assert run_folders(study_dir) == before  # no trial-0000 with runs of two studies
    # Another study name is a new folder: nothing to mix with.
    fresh = study_module.tune_study(config, trials=1, study="again", runs_dir=runs)
    assert fresh.counts["complete"] == 1


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "0"])
def test_a_timeout_must_be_a_positive_number_of_seconds(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None], timeout: str
) -> None:
    fake_study([3.0, 2.0, 4.0])
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["tune", str(config), "--runs-dir", str(runs), "--timeout", timeout])
    assert result.exit_code == 2, result.output
    assert "error: --timeout must be a positive number of seconds" in result.stderr
    assert "Traceback" not in result.output
    assert not runs.exists()  # said before anything was made


@pytest.mark.parametrize("study", ["", "../up", "a b"])
def test_an_empty_or_odd_study_name_is_refused(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None], study: str
) -> None:
    """Fault probes 2, cosmetic: `--study ''` silently meant the default name."""
    fake_study([3.0, 2.0, 4.0])
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    result = runner.invoke(app, ["tune", str(config), "--runs-dir", str(runs), "--study", study])
    assert result.exit_code == 2, result.output
    assert f"error: --study {study!r}: use letters, digits" in result.stderr
    assert not runs.exists()  # said before anything was made


def test_a_damaged_study_db_is_named_as_damaged(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None]
) -> None:
    """Fault probes 2, cosmetic: a study.db with overwritten pages gave Optuna's "An exception
    is raised during the commit... e.g. exceeding max length"."""
    fake_study([3.0, 2.0, 4.0, 1.0])
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    study_module.tune_study(config, trials=3, runs_dir=runs)
    database = runs / "reg_tune" / "reg_tune" / "study.db"
    with database.open("r+b") as handle:  # SQLite pages 3-5 (of 4 KiB) overwritten
        handle.seek(2 * 4096)
        handle.write(bytes(range(256)) * 48)
    result = runner.invoke(app, ["tune", str(config), "--runs-dir", str(runs), "--trials", "4"])
    assert result.exit_code == 2, result.output
    assert f"error: the study storage file {database.resolve()} is damaged (" in result.stderr
    assert "malformed" in result.stderr and "--study NEW" in result.stderr
    assert "exception is raised during the commit" not in result.stderr
