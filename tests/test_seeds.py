"""`dltrain run --seeds N`: N ordinary run folders under one group, and their spread."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from datagen import write_regression_csv
from typer.testing import CliRunner

from dltrain.cli import app

runner = CliRunner()

pytestmark = pytest.mark.slow


def test_seeds_run_each_seed_and_write_the_spread(tmp_path: Path) -> None:
    data = write_regression_csv(tmp_path / "r.csv")
    config = tmp_path / "reg.yaml"
    config.write_text(
        f"name: reg\nseed: 7\ndata: {{kind: csv, path: {data}, target: y, categorical: [color]}}\n"
        "model: {layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 1}}]}\n"
        "training: {epochs: 2, batch_size: 32, jit_compile: false}\noutput: {plots: false}\n"
    )
    runs = tmp_path / "runs"
    done = runner.invoke(app, ["run", str(config), "--seeds", "3", "--runs-dir", str(runs)])
    assert done.exit_code == 0, done.output
    assert "seed 7 (1/3)" in done.output and "seed 9 (3/3)" in done.output
    assert "test metrics over 3 of 3 seeds (7, 8, 9)" in done.output
    (group,) = runs.glob("reg/seeds-*")
    record = json.loads((group / "seeds.json").read_text())
    assert record["seeds"] == [7, 8, 9] and record["completed"] == 3
    maes = []
    for entry, seed in zip(record["runs"], (7, 8, 9), strict=True):
        manifest = json.loads((group / entry["run_dir"] / "run.json").read_text())
        assert manifest["seed"] == seed and manifest["status"] == "completed"
        assert entry["test"] == pytest.approx(manifest["final_metrics"]["test"])
        maes.append(manifest["final_metrics"]["test"]["mae"])
    mae = record["test"]["mae"]
    assert mae["values"] == pytest.approx(maes)
    assert mae["mean"] == pytest.approx(statistics.fmean(maes))
    assert mae["std"] == pytest.approx(statistics.stdev(maes))
    half = 4.303 * statistics.stdev(maes) / 3**0.5  # t(0.975, 2 degrees of freedom)
    assert mae["ci95"] == pytest.approx([mae["mean"] - half, mae["mean"] + half])
    # Each seed's run is an ordinary run: listed by `runs`, and eval works on it.
    listed = runner.invoke(app, ["runs", str(runs), "--wide"])
    assert all(f"seed-{s}" in listed.output for s in (7, 8, 9)), listed.output
    one = group / record["runs"][0]["run_dir"]
    assert runner.invoke(app, ["eval", str(one)]).exit_code == 0
