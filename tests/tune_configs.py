"""The small ``tune:`` experiment the tune tests share (regression on generated CSV data)."""

from __future__ import annotations

import textwrap
from pathlib import Path

__all__ = ["BASE", "GOOD_SPACE", "write_tune"]

BASE = """\
name: reg
seed: 3
data: {{kind: csv, path: {csv}, target: y, categorical: [color], validation: 0.2, test: 0.2}}
model:
  layers:
    - Dense: {{units: 8, activation: relu}}
    - Dropout: {{rate: 0.1}}
    - Dense: {{units: 1}}
optimizer: {{name: adam, learning_rate: 0.01}}
loss: mse
metrics: [mae]
training: {{epochs: 2, batch_size: 32, jit_compile: false}}
"""

GOOD_SPACE = """\
metric: val_mae
space:
  optimizer.learning_rate: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
  model.layers[0].Dense.units: {type: int, low: 4, high: 16}
  model.layers[0].Dense.activation: {type: categorical, choices: [relu, tanh]}
  training.batch_size: {type: categorical, choices: [16, 32]}
  callbacks.early_stopping.patience: {type: int, low: 1, high: 3}
"""


def write_tune(tmp_path: Path, regression_csv: Path, tune: str, *, plots: bool = True) -> Path:
    """``base.yaml`` (the experiment) and ``tune.yaml`` (extends it, with ``tune``);
    ``plots=False`` turns the run and study plots off (``output.plots: false``)."""
    (tmp_path / "base.yaml").write_text(BASE.format(csv=regression_csv))
    path = tmp_path / "tune.yaml"
    output = "" if plots else "output: {plots: false}\n"
    path.write_text(
        "extends: base.yaml\nname: reg_tune\n" + output + "tune:\n" + textwrap.indent(tune, "  ")
    )
    return path
