"""The study loop without TensorFlow: trials are faked, Optuna and the study's files are real.

What a trial trains is covered by tests/test_tune_study.py; here the loop's own costs and
records: storage reads per trial, when ``best.yaml`` is written, the ``tune`` record of a
trial's ``run.json``, and the extras a sampler or a storage needs.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from tune_configs import write_tune
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import LoadedConfig
from dltrain.errors import UsageError
from dltrain.storage import RunFolder, read_manifest
from dltrain.storage.manifest import RunManifest, TuneRecord
from dltrain.tune.checks import TunePlan
from dltrain.tune.objective import TrialOutcome, trial_name
from dltrain.tune.records import StudySummary, TrialRecord
from dltrain.tune.sink import NullTuneProgress
from dltrain.tune.space import read_space

study_module = importlib.import_module("dltrain.tune.study")
runner = CliRunner()

SPACE = """\
metric: val_mae
sampler: random
pruner: none
space:
  optimizer.learning_rate: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
  model.layers[0].Dense.units: {type: int, low: 4, high: 16}
"""


def plan_without_keras(loaded: LoadedConfig, source: Any = None) -> TunePlan:
    """``check_tune`` minus the model builds (which import Keras)."""
    assert loaded.config.tune is not None
    return TunePlan(read_space(loaded), loaded.config.tune.metric, "minimize", ["val_mae"], None)


def fake_trials(values: list[float]) -> Callable[..., TrialOutcome]:
    """A ``run_trial`` that makes the trial's run folder and ends with ``values[number]``."""

    def run_trial(trial: Any, source: Any, params: dict[str, Any], *, study_dir: Path, **_: Any) -> TrialOutcome:
        folder = RunFolder.create(study_dir, trial_name(trial.number))
        folder.update(status="completed")
        folder.release()
        return TrialOutcome("complete", value=values[trial.number], run_dir=folder.path)

    return run_trial


class Recorder(NullTuneProgress):
    """Calls ``look()`` whenever a trial starts or is reported finished."""

    def __init__(self, look: Callable[[], Any]) -> None:
        self.look = look
        self.started: list[Any] = []
        self.finished: list[tuple[TrialRecord, Any]] = []

    def trial_started(self, number: int, params: dict[str, Any]) -> None:
        self.started.append(self.look())

    def trial_finished(self, record: TrialRecord) -> None:
        self.finished.append((record, self.look()))


@pytest.fixture
def fake_study(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[float]], None]:
    monkeypatch.setattr(study_module, "check_tune", plan_without_keras)

    def use(values: list[float]) -> None:
        monkeypatch.setattr(study_module, "run_trial", fake_trials(values))

    return use


def test_each_trial_costs_one_storage_read_of_ours(
    tmp_path: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch, fake_study: Callable[[list[float]], None]
) -> None:
    fake_study([3.0, 2.0, 4.0, 1.0, 5.0])
    reads = {"db": 0, "study": 0}
    open_storage = study_module.open_storage

    def counted_storage(url: str) -> Any:
        storage = open_storage(url)
        backend_read = storage._get_trials  # every trial read Optuna makes reaches the database here

        def read(*args: Any, **kwargs: Any) -> Any:
            reads["db"] += 1
            return backend_read(*args, **kwargs)

        storage._get_trials = read
        return storage

    get_trials = optuna.Study.get_trials

    def study_read(self: optuna.Study, *args: Any, **kwargs: Any) -> Any:
        reads["study"] += 1
        return get_trials(self, *args, **kwargs)

    monkeypatch.setattr(study_module, "open_storage", counted_storage)
    monkeypatch.setattr(optuna.Study, "get_trials", study_read)
    progress = Recorder(lambda: dict(reads))
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    summary = study_module.tune_study(config, trials=5, runs_dir=tmp_path / "runs", progress=progress)

    assert summary.counts["complete"] == 5 and summary.exit_code == 0
    steps = [
        {k: later[k] - earlier[k] for k in reads}
        for earlier, later in zip(progress.started, progress.started[1:], strict=False)
    ]
    # From one trial's start to the next: dltrain reads the study once (under the study
    # lock); Optuna's ask reads it once more. Before: 7 of ours, plus Study.best_trial.
    assert steps == [{"db": 2, "study": 1}] * 4, steps


def test_best_yaml_is_written_only_when_the_best_trial_changes(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None]
) -> None:
    fake_study([3.0, 2.0, 4.0, 2.5, 1.0])
    runs = tmp_path / "runs"
    best_yaml = runs / "reg_tune" / "reg_tune" / "best.yaml"

    def look() -> tuple[int, int, str] | None:
        if not best_yaml.exists():
            return None
        stat = best_yaml.stat()
        return stat.st_ino, stat.st_mtime_ns, best_yaml.read_text().splitlines()[0]

    progress = Recorder(look)
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    summary = study_module.tune_study(config, trials=5, runs_dir=runs, progress=progress)

    assert [r.number for r, _ in progress.finished] == [0, 1, 2, 3, 4]
    files = [file for _, file in progress.finished]
    assert files[0] is not None and "trial 0," in files[0][2]
    assert files[1] != files[0] and "trial 1," in files[1][2]
    # Worse trials leave the file alone: not rewritten (same inode and mtime), not reloaded.
    assert files[2] == files[1] and files[3] == files[1]
    assert files[4] != files[1] and "trial 4," in files[4][2]
    assert summary.best is not None and summary.best["trial"] == 4
    assert summary.best_yaml == best_yaml and look() == files[4]


@pytest.mark.parametrize("plots", [True, False])
def test_study_plots_follow_output_plots(
    tmp_path: Path,
    regression_csv: Path,
    fake_study: Callable[[list[float]], None],
    plots: bool,
    unrendered: None,
) -> None:
    fake_study([3.0, 2.0, 1.0])
    config = write_tune(tmp_path, regression_csv, SPACE, plots=plots)
    summary = study_module.tune_study(config, trials=3, runs_dir=tmp_path / "runs")
    folder = tmp_path / "runs" / "reg_tune" / "reg_tune" / "plots"
    drawn = sorted(p.name for p in folder.glob("*.png"))
    if plots:
        assert "optimization_history.png" in drawn and "param_importances.png" in drawn
        assert sorted(p.name for p in summary.plots) == drawn
    else:
        assert drawn == [] and not summary.plots  # output.plots: false, as for runs


def test_a_trials_run_json_and_a_lost_trials_have_the_same_tune_record(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None]
) -> None:
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    study_dir = runs / "reg_tune" / "reg_tune"
    # A process killed during trial 0: its run folder says running, Optuna's trial failed.
    study_dir.mkdir(parents=True)
    study = optuna.create_study(study_name="reg_tune", storage=f"sqlite:///{study_dir / 'study.db'}")
    study.set_user_attr("metric", "val_mae")
    lost = study.ask({"optimizer.learning_rate": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True)})
    lost.set_user_attr("reason", "its process (pid 1 on h) stopped during the trial")
    study.tell(lost, state=optuna.trial.TrialState.FAIL)
    folder = RunFolder.create(study_dir, trial_name(0))
    folder.update(status="running")
    folder.release()

    fake_study([0.0, 2.0])
    study_module.tune_study(config, trials=1, runs_dir=runs)

    lost_manifest = read_manifest(folder.path / "run.json")
    assert lost_manifest.status == "interrupted" and lost_manifest.tune is not None
    (done,) = (study_dir / "trial-0001").glob("*/run.json")
    done_manifest = read_manifest(done)
    assert done_manifest.tune is not None
    lost_record = json.loads((folder.path / "run.json").read_text())["tune"]
    done_record = json.loads(done.read_text())["tune"]
    assert set(lost_record) == set(done_record) == set(TuneRecord.model_fields)
    assert lost_record["state"] == "failed" and "stopped during the trial" in lost_record["reason"]
    assert lost_record["params"] == {"optimizer.learning_rate": lost.params["optimizer.learning_rate"]}
    assert done_record["state"] == "complete" and done_record["value"] == 2.0
    assert done_record["params"] == json.loads((study_dir / "study.json").read_text())["best"]["params"]


@pytest.mark.parametrize(
    "tune",
    [
        # Written by the trial's end (dltrain 0.2), and by a later process finding it lost.
        {"study": "s", "study_dir": "/r/s", "trial": 3, "state": "complete", "metric": "val_loss",
         "value": 0.5, "params": {"a": 1}, "pruned_at_epoch": None, "reason": None, "duration_s": 2.5},
        {"study": "s", "trial": 3, "state": "failed", "reason": "the tuning process stopped"},
    ],
)
def test_older_run_json_tune_records_still_read(tune: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"status": "interrupted", "tune": {**tune, "later_key": 1}}))
    manifest = read_manifest(path)
    assert isinstance(manifest.tune, TuneRecord)
    assert manifest.tune.trial == 3 and manifest.tune.state == tune["state"]
    again = json.loads(manifest.to_json())["tune"]
    assert {k: again[k] for k in tune} == tune and again["later_key"] == 1  # unknown keys kept
    assert RunManifest.model_validate_json(manifest.to_json()).tune == manifest.tune


def test_study_summaries_are_typed_for_the_api_and_render_as_before() -> None:
    summary = StudySummary(
        study="s", study_dir=Path("s"), storage="sqlite://", metric="m", direction="minimize",
        trials_wanted=1, counts={"complete": 1, "pruned": 0, "failed": 0, "running": 0},
        best={"value": 0.5, "params": {}, "trial": 0, "run_dir": None, "host": None, "test_metrics": None},
    )
    # Typed dicts: study.json holds them as they are, and `study.best["value"]` still works.
    assert summary.best is not None and summary.best["value"] == 0.5
    assert json.loads(json.dumps(summary.counts)) == summary.counts


def test_a_postgresql_storage_without_psycopg2_names_the_extra(
    tmp_path: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # `import psycopg2` now fails
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    url = "postgresql+psycopg2://tuner:s3cret@127.0.0.1:1/studies"
    result = runner.invoke(app, ["tune", str(config), "--storage", url, "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert (
        "error: --storage postgresql+psycopg2://tuner@127.0.0.1:1/studies: a PostgreSQL study "
        'storage needs the psycopg2 driver: pip install "dltrain[postgres]"'
    ) in result.stderr
    assert "Traceback" not in result.output and "s3cret" not in result.output
    assert not (tmp_path / "runs").exists()  # said before anything was made
    if importlib.util.find_spec("psycopg") is None:  # a plain URL means psycopg2 then
        with pytest.raises(UsageError, match=r'pip install "dltrain\[postgres\]"'):
            study_module.require_driver("postgresql://tuner@db/studies")
    study_module.require_driver("sqlite:///study.db")  # other storages need nothing more


def test_the_cma_es_sampler_without_cmaes_names_the_extra(
    tmp_path: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)  # `import cmaes` now fails
    config = write_tune(tmp_path, regression_csv, SPACE.replace("sampler: random", "sampler: cmaes"))
    result = runner.invoke(app, ["tune", str(config), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert 'error: tune.sampler: cmaes needs the cmaes package: pip install "dltrain[cmaes]"' in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("key", "searches"),
    [
        ("optimizer.learning_rate", False),
        ("training.batch_size", False),  # resolved per trial from the shared data
        ("data.validation", True),
        ("data.categorical[0]", True),
        ("seed", True),  # the seed draws the splits
        ("model.layers[0]].x", True),  # not a key path: check_tune says so; nothing shared
    ],
)
def test_the_study_shares_its_data_unless_a_trial_may_change_it(
    tmp_path: Path, regression_csv: Path, key: str, searches: bool
) -> None:
    from dltrain.config import load_config

    tune = f"metric: val_mae\nspace:\n  {key}: {{type: categorical, choices: [1, 2]}}\n"
    loaded = load_config(write_tune(tmp_path, regression_csv, tune))
    assert study_module._searches_data(loaded) is searches


def test_a_data_warning_is_said_once_per_study(
    tmp_path: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch, fake_study: Callable[[list[float]], None]
) -> None:
    fake_study([3.0, 2.0, 4.0])
    warning = f"warning: {regression_csv}: 198 empty cells filled with the training mean (column x1)"
    make_run = study_module.run_trial

    def warning_trial(trial: Any, *args: Any, progress: Any, **kwargs: Any) -> TrialOutcome:
        # As dltrain.engine.run says the data's warnings on every run's progress sink.
        progress.message(warning)
        progress.message(f"note of trial {trial.number}")
        return make_run(trial, *args, progress=progress, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(study_module, "run_trial", warning_trial)
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    result = runner.invoke(app, ["tune", str(config), "--runs-dir", str(tmp_path / "runs"), "--trials", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.count("198 empty cells filled") == 1
    assert all(f"note of trial {n}" in result.output for n in range(3))  # other messages stay


def test_a_killed_trials_temporary_files_go_when_its_folder_is_marked_interrupted(
    tmp_path: Path, regression_csv: Path, fake_study: Callable[[list[float]], None]
) -> None:
    config = write_tune(tmp_path, regression_csv, SPACE, plots=False)
    runs = tmp_path / "runs"
    study_dir = runs / "reg_tune" / "reg_tune"
    study_dir.mkdir(parents=True)
    study = optuna.create_study(study_name="reg_tune", storage=f"sqlite:///{study_dir / 'study.db'}")
    study.set_user_attr("metric", "val_mae")
    lr = {"optimizer.learning_rate": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True)}
    folders = []
    for _ in range(2):  # trial 0: SIGKILLed while saving; trial 1: its writer still lives
        lost = study.ask(lr)
        lost.set_user_attr("reason", "its process (pid 26820 on vm) stopped during the trial")
        study.tell(lost, state=optuna.trial.TrialState.FAIL)
        folder = RunFolder.create(study_dir, trial_name(lost.number))
        folder.update(status="running")
        (folder.checkpoints / "last.keras").write_bytes(b"the epoch before")
        (folder.checkpoints / ".last.26820-32.tmp.keras").write_bytes(b"half a checkpoint")
        (folder.checkpoints / "resume" / ".tmp-epoch-00002").mkdir(parents=True)
        folders.append(folder)
    folders[0].release()  # the kernel drops a killed process's lock

    fake_study([0.0, 0.0, 2.0])
    study_module.tune_study(config, trials=1, runs_dir=runs)

    killed, live = (f.path / "checkpoints" for f in folders)
    assert read_manifest(folders[0].path / "run.json").status == "interrupted"
    assert not (killed / ".last.26820-32.tmp.keras").exists()
    assert not (killed / "resume" / ".tmp-epoch-00002").exists()
    assert (killed / "last.keras").read_bytes() == b"the epoch before"
    # A folder whose writer holds its lock is not touched.
    assert read_manifest(folders[1].path / "run.json").status == "running"
    assert (live / ".last.26820-32.tmp.keras").exists()
    folders[1].release()
