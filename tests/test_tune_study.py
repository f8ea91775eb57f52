"""``dltrain tune`` end to end on tiny generated data: a study, its files, a rerun, a SIGKILL."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import dltrain
from dltrain.cli import app

runner = CliRunner()

BASE = """\
name: reg
seed: 3
deterministic: true
data: {{kind: csv, path: {csv}, target: y, categorical: [color], validation: 0.2, test: 0.2}}
model:
  layers:
    - Dense: {{units: 8, activation: relu}}
    - Dense: {{units: 1}}
optimizer: {{name: adam, learning_rate: 0.01}}
loss: mse
metrics: [mae]
training: {{epochs: {epochs}, batch_size: 16, jit_compile: false}}
output: {{plots: false}}
"""

TUNE = """\
extends: base.yaml
name: reg_tune
tune:
  metric: val_mae
  trials: {trials}
  sampler: random
  pruner: none
  space:
    optimizer.learning_rate: {{type: float, low: 1.0e-3, high: 5.0e-2, log: true}}
    model.layers[0].Dense.units: {{type: int, low: 2, high: 16, log: true}}
"""


def write_study_config(folder: Path, csv: Path, *, epochs: int = 2, trials: int = 3) -> Path:
    (folder / "base.yaml").write_text(BASE.format(csv=csv, epochs=epochs))
    path = folder / "tune.yaml"
    path.write_text(TUNE.format(trials=trials))
    return path


def trial_runs(study_dir: Path) -> dict[int, Path]:
    """Trial number -> its run folder."""
    return {
        int(p.parent.parent.name.removeprefix("trial-")): p.parent
        for p in study_dir.glob("trial-*/*/run.json")
    }


@pytest.mark.slow
def test_a_study_completes_and_best_yaml_reproduces_the_best_trial(
    tmp_path: Path, regression_csv: Path
) -> None:
    config = write_study_config(tmp_path, regression_csv, trials=2)
    runs = tmp_path / "runs"
    summary = dltrain.tune(config, runs_dir=runs)
    study_dir = runs / "reg_tune" / "reg_tune"
    assert summary.exit_code == 0 and summary.study_dir == study_dir

    study = json.loads((study_dir / "study.json").read_text())
    assert study["study"] == "reg_tune" and study["metric"] == "val_mae"
    assert study["direction"] == "minimize"
    assert study["storage"] == f"sqlite:///{study_dir.resolve() / 'study.db'}"
    assert study["trials"] == {"complete": 2, "pruned": 0, "failed": 0, "running": 0}
    values = {t["number"]: t["value"] for t in study["trial_list"]}
    assert sorted(values) == [0, 1]
    best = study["best"]
    assert best["value"] == min(values.values())
    assert set(best["params"]) == {"optimizer.learning_rate", "model.layers[0].Dense.units"}

    # The best trial's folder is an ordinary run that records its study and values.
    best_run = study_dir / best["run_dir"]
    assert best_run == trial_runs(study_dir)[best["trial"]]
    manifest = json.loads((best_run / "run.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["tune"]["trial"] == best["trial"] and manifest["tune"]["state"] == "complete"
    assert manifest["tune"]["params"] == best["params"]
    assert len(manifest["overrides"]) == 2
    with (best_run / "metrics.csv").open() as handle:
        rows = list(__import__("csv").DictReader(handle))
    assert min(float(r["val_mae"]) for r in rows) == pytest.approx(best["value"])

    # best.yaml: the full config at the best values, trained again to the same metrics.
    best_yaml = yaml.safe_load((study_dir / "best.yaml").read_text())
    assert "tune" not in best_yaml and best_yaml["name"] == "reg_tune"
    assert best_yaml["optimizer"]["learning_rate"] == best["params"]["optimizer.learning_rate"]
    assert best_yaml["model"]["layers"][0]["Dense"]["units"] == best["params"]["model.layers[0].Dense.units"]
    again = runner.invoke(app, ["run", str(study_dir / "best.yaml"), "--runs-dir", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    (rerun,) = (tmp_path / "again" / "reg_tune").iterdir()
    final = json.loads((rerun / "run.json").read_text())["final_metrics"]
    assert final["test"] == pytest.approx(manifest["final_metrics"]["test"], rel=1e-5)
    assert final["validation"] == pytest.approx(manifest["final_metrics"]["validation"], rel=1e-5)

    # The same command again continues the study up to the new total.
    # The base turns plots off (output.plots: false: no run or study plots); this call turns
    # them on, which is no change of the experiment.
    more = runner.invoke(
        app,
        ["tune", str(config), "--runs-dir", str(runs), "--trials", "3", "--set", "output.plots=true"],
    )
    assert more.exit_code == 0, more.output
    study = json.loads((study_dir / "study.json").read_text())
    assert study["trials"]["complete"] == 3 and sorted(trial_runs(study_dir)) == [0, 1, 2]
    params = [tuple(t["params"].values()) for t in study["trial_list"]]
    assert len(set(params)) == 3  # the rerun's sampler does not replay the first draws
    assert "best: trial" in more.output and "train it again: dltrain run" in more.output
    # The CLI's trial keeps its log files in its own folder, as `dltrain run` does (L10).
    assert (trial_runs(study_dir)[2] / "logs" / "warnings.log").is_file()
    plots = sorted(p.name for p in (study_dir / "plots").iterdir())
    assert plots == [
        "optimization_history.png",
        "param_importances.png",
        "param_model.layers_0_.Dense.units.png",
        "param_optimizer.learning_rate.png",
    ]


@pytest.mark.slow
def test_a_failed_trial_is_recorded_with_its_reason_and_the_study_goes_on(
    tmp_path: Path, regression_csv: Path
) -> None:
    config = write_study_config(tmp_path, regression_csv, epochs=2, trials=2)
    text = config.read_text().replace("sampler: random", "sampler: grid")
    # A huge learning rate makes the loss infinite: that trial fails, with its reason.
    text = text.replace(
        "{type: float, low: 1.0e-3, high: 5.0e-2, log: true}",
        "{type: categorical, choices: [0.01, 1.0e+30]}",
    ).replace("{type: int, low: 2, high: 16, log: true}", "{type: categorical, choices: [8]}")
    config.write_text(text)
    summary = dltrain.tune(config, runs_dir=tmp_path / "runs")
    assert summary.counts == {"complete": 1, "pruned": 0, "failed": 1, "running": 0}
    (failed,) = [t for t in summary.trials if t.state == "failed"]
    assert failed.params["optimizer.learning_rate"] == 1e30
    assert failed.reason is not None and "loss became" in failed.reason, failed.reason
    assert summary.best is not None and summary.best["params"]["optimizer.learning_rate"] == 0.01
    assert summary.exit_code == 0 and summary.message == "every grid point has been tried"
    manifest = json.loads((summary.study_dir / failed.run_dir / "run.json").read_text())
    assert manifest["status"] == "failed" and manifest["tune"]["state"] == "failed"


@pytest.mark.slow
def test_a_pruned_trial_stops_at_the_pruners_epoch_and_reads_as_pruned(
    tmp_path: Path, regression_csv: Path
) -> None:
    import optuna

    from dltrain.tune.config_source import ConfigSource
    from dltrain.tune.objective import run_trial
    from dltrain.tune.study_files import read_trials

    class PruneAfterTwoEpochs(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            return (trial.last_step or 0) >= 2

    study = optuna.create_study(pruner=PruneAfterTwoEpochs())
    trial = study.ask()
    config = write_study_config(tmp_path, regression_csv, epochs=5)
    outcome = run_trial(
        trial,
        ConfigSource.of(config, []),
        {"optimizer.learning_rate": 0.01},
        metric="val_mae",
        direction="minimize",
        study_dir=tmp_path / "study",
        progress=None,
        command=None,
    )
    assert outcome.state == "pruned" and outcome.pruned_at == 2 and outcome.epochs == 2
    assert outcome.run_dir is not None
    assert len((outcome.run_dir / "metrics.csv").read_text().splitlines()) == 3  # header + 2
    reported = study.get_trials()[0].intermediate_values
    assert sorted(reported) == [1, 2]
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    (record,) = read_trials(study)
    assert record.state == "pruned" and record.value == reported[2]


@pytest.mark.slow
def test_a_study_loads_its_data_once_and_trains_as_if_each_trial_loaded_its_own(
    tmp_path: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_module = importlib.import_module("dltrain.data.load")
    read = load_module._load
    loads: list[str] = []

    def counted(config: Any, test_path: Path | None) -> Any:
        loads.append(config.name)
        return read(config, test_path)

    monkeypatch.setattr(load_module, "_load", counted)
    config = write_study_config(tmp_path, regression_csv, trials=2)
    shared = dltrain.tune(config, runs_dir=tmp_path / "shared")
    # check_tune's load of the experiment; its 4 range ends and the 2 trials reuse it.
    assert loads == ["reg_tune"]

    # As before: every model check_tune builds and every trial loads the data itself.
    loads.clear()
    monkeypatch.setattr(importlib.import_module("dltrain.data.sharing"), "_key", lambda *_: None)
    own = dltrain.tune(config, runs_dir=tmp_path / "own")
    assert loads == ["reg_tune"] * 5 + ["trial-0000", "trial-0001"]

    assert shared.exit_code == own.exit_code == 0 and len(shared.trials) == len(own.trials) == 2
    for mine, theirs in zip(shared.trials, own.trials, strict=True):
        assert mine.params == theirs.params and mine.value == pytest.approx(theirs.value, rel=1e-6)
        assert mine.run_dir is not None and theirs.run_dir is not None
        metrics = [
            json.loads((summary.study_dir / run / "run.json").read_text())["final_metrics"]
            for summary, run in ((shared, mine.run_dir), (own, theirs.run_dir))
        ]
        for split in ("train", "validation", "test"):
            assert metrics[0][split] == pytest.approx(metrics[1][split], rel=1e-6), split


def start_tune(config: Path, runs: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CI": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "dltrain", "tune", str(config), "--runs-dir", str(runs), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(pattern: str, folder: Path, proc: subprocess.Popen[str], timeout: float = 300) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"{pattern} never appeared")


@pytest.mark.slow
def test_sigkill_during_a_trial_then_rerun_finishes_the_study(
    tmp_path: Path, regression_csv: Path
) -> None:
    # Enough epochs that the kill after trial 1's first epoch lands inside that trial. Two
    # trials: trial 0 completes before the kill, the rerun completes trial 2 in trial 1's place.
    config = write_study_config(tmp_path, regression_csv, epochs=8, trials=2)
    runs = tmp_path / "runs"
    study_dir = runs / "reg_tune" / "reg_tune"
    proc = start_tune(config, runs)
    point = wait_for("trial-0001/*/checkpoints/resume/epoch-00001", study_dir, proc)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.communicate()
    killed_run = point.parents[2]
    assert json.loads((killed_run / "run.json").read_text())["status"] == "running"

    rerun = start_tune(config, runs)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    study = json.loads((study_dir / "study.json").read_text())
    assert study["trials"] == {"complete": 2, "pruned": 0, "failed": 1, "running": 0}
    states = {t["number"]: t["state"] for t in study["trial_list"]}
    assert states == {0: "complete", 1: "failed", 2: "complete"}
    (killed,) = [t for t in study["trial_list"] if t["number"] == 1]
    assert "stopped during the trial" in killed["reason"]
    manifest = json.loads((killed_run / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["tune"]["trial"] == 1
    assert "trial   1  failed" not in out  # the rerun did not run trial 1 again


@pytest.mark.slow
def test_ctrl_c_marks_the_running_trial_interrupted_and_exits_130(
    tmp_path: Path, regression_csv: Path
) -> None:
    import signal

    config = write_study_config(tmp_path, regression_csv, epochs=8, trials=2)
    runs = tmp_path / "runs"
    study_dir = runs / "reg_tune" / "reg_tune"
    proc = start_tune(config, runs)
    point = wait_for("trial-0000/*/checkpoints/resume/epoch-00001", study_dir, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert "interrupted: trial 0 marked interrupted" in out
    study = json.loads((study_dir / "study.json").read_text())
    assert study["trials"] == {"complete": 0, "pruned": 0, "failed": 1, "running": 0}
    assert study["trial_list"][0]["state"] == "interrupted"
    manifest = json.loads((point.parents[2] / "run.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["tune"]["state"] == "interrupted"


@pytest.mark.slow
def test_tune_seeds_scores_a_trial_by_the_mean_over_its_seeds(
    tmp_path: Path, regression_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_module = importlib.import_module("dltrain.data.load")
    read = load_module._load
    loads: list[tuple[str, int]] = []

    def counted(config: Any, test_path: Path | None) -> Any:
        loads.append((config.name, config.seed))
        return read(config, test_path)

    monkeypatch.setattr(load_module, "_load", counted)
    config = write_study_config(tmp_path, regression_csv, epochs=1, trials=1)
    config.write_text(config.read_text().replace("  pruner: none\n", "  pruner: none\n  seeds: 2\n"))
    summary = dltrain.tune(config, runs_dir=tmp_path / "runs")
    assert summary.exit_code == 0
    # One load per seed's splits: check_tune's (seed 3), which the first seed reuses, and seed 4's.
    assert loads == [("reg_tune", 3), ("trial-0000", 4)]

    runs = sorted(summary.study_dir.glob("trial-0000/*/run.json"))
    assert len(runs) == 2
    records = [json.loads(p.read_text())["tune"] for p in runs]
    assert [r["seed"] for r in records] == [3, 4]
    own = []
    for path in runs:
        with (path.parent / "metrics.csv").open() as handle:
            own.append(min(float(r["val_mae"]) for r in __import__("csv").DictReader(handle)))
    assert [r["seed_value"] for r in records] == pytest.approx(own)
    assert own[0] != own[1]  # the seeds differ, so the mean is not either one
    (trial,) = summary.trials
    assert trial.value == pytest.approx(sum(own) / 2)
    assert all(r["value"] == pytest.approx(trial.value) for r in records)
    study = json.loads((summary.study_dir / "study.json").read_text())
    assert [s["seed"] for s in study["trial_list"][0]["seeds"]] == [3, 4]
    assert study["best"]["value"] == pytest.approx(sum(own) / 2)
