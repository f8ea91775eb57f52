"""A pruned run still does everything a run folder is for: eval, and --resume extending it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datagen import tiny_mlp
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment

runner = CliRunner()


@pytest.mark.slow
def test_a_pruned_run_evaluates_and_extends_with_resume(mnist_npz: Path, tmp_path: Path) -> None:
    config = tmp_path / "mlp.yaml"
    config.write_text(tiny_mlp(name="mlp", epochs=3).format(path=mnist_npz))
    result = run_experiment(config, runs_dir=tmp_path / "runs")
    assert result.status == "completed"
    run = result.run_dir
    resume = run / "checkpoints" / "resume"
    assert sorted(p.name for p in resume.iterdir()) == ["epoch-00002", "epoch-00003"]

    pruned = runner.invoke(app, ["prune", str(run)])
    assert pruned.exit_code == 0, pruned.output
    assert "freed" in pruned.output and "resume point epoch-00002" in pruned.output
    assert sorted(p.name for p in resume.iterdir()) == ["epoch-00003"]

    for checkpoint in ("best", "last"):
        evaluated = runner.invoke(app, ["eval", str(run), "--checkpoint", checkpoint])
        assert evaluated.exit_code == 0, evaluated.output
    extended = runner.invoke(app, ["run", "--resume", str(run), "--set", "training.epochs=4", "-q"])
    assert extended.exit_code == 0, extended.output
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == 4
    assert manifest["resumes"][-1]["from_epoch"] == 3
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4"]
