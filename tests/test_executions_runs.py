"""An LSTM run under ``jit_compile: auto`` (XLA, fused executions) resumes bit for bit."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from datagen import write_mnist_npz
from probes import killed_after_epoch_one
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment

runner = CliRunner()

# 320 training images in batches of 24: 14 steps an epoch, the last of 8 images, so
# one execution an epoch, whose last batch runs as a step of its own. Dropout draws random
# masks on both sides of the resume.
CONFIG = """\
name: lstm
seed: 5
data: {{kind: mnist, path: {path}, validation: 0.2}}
model:
  input_shape: [28, 28]
  layers:
    - LSTM: {{units: 8}}
    - Dropout: {{rate: 0.2}}
    - Dense: {{units: 10, activation: softmax}}
optimizer: {{name: adam, learning_rate: 0.003}}
loss: categorical_crossentropy
metrics: [accuracy]
training: {{epochs: 3, batch_size: 24}}
output: {{plots: false}}
"""


def losses(folder: Path) -> list[tuple[str, str]]:
    with (folder / "metrics.csv").open() as handle:
        return [(r["loss"], r["val_loss"]) for r in csv.DictReader(handle)]


@pytest.mark.slow
def test_an_lstm_under_xla_resumes_bit_for_bit(tmp_path: Path) -> None:
    config = tmp_path / "lstm.yaml"
    config.write_text(CONFIG.format(path=write_mnist_npz(tmp_path / "m.npz", n_train=400)))
    reference = run_experiment(config, runs_dir=tmp_path / "ref")
    assert reference.status == "completed"
    manifest = json.loads((reference.run_dir / "run.json").read_text())
    assert manifest["jit_compile"]["enabled"] is True, manifest["jit_compile"]
    assert manifest["steps_per_execution"] == 14  # the epoch in one execution
    assert manifest["fused_executions"] is True

    run_dir = killed_after_epoch_one(config, tmp_path / "runs", "lstm")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output
    assert len(losses(run_dir)) == 3
    assert losses(run_dir) == losses(reference.run_dir)
