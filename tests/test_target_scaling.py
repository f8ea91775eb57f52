"""``data.target_scaling``: trained on the scaled target, reported in the target's own units.

A price near 180,000 is learned as a standardized value (or standardized logarithm); the
test metrics, ``eval``, ``predict`` and a reloaded checkpoint still speak prices, and a
stopped run resumes exactly.
"""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.evaluate import evaluate_target
from dltrain.engine.run import resume_experiment, run_experiment
from dltrain.model import load_model_file
from dltrain.model.target_scale import ScaledLoss, Unscale

runner = CliRunner()

CONFIG = """\
name: prices
seed: 2
data:
  kind: csv
  path: {path}
  target: price
  categorical: [color]
  target_scaling: {mode}
model:
  type: functional
  inputs: {{features: {{}}}}
  layers:
    - {{name: hidden, Dense: {{units: 16, activation: relu}}, inputs: features}}
    - {{name: out, Dense: {{units: 1}}, inputs: hidden}}
  outputs: [out]
loss: {{out: mse}}
metrics: {{out: [mae]}}
optimizer: {{name: adam, learning_rate: 0.02}}
training: {{epochs: {epochs}, batch_size: 16, jit_compile: false}}
output: {{plots: false}}
"""


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prices around 180,000, log-linear in two numbers and a colour."""
    rng = np.random.default_rng(7)
    n = 240
    x1, x2 = rng.normal(0, 1, n), rng.normal(0, 1, n)
    color = rng.choice(["red", "green", "blue"], n)
    price = 180_000 * np.exp(0.3 * x1 - 0.2 * x2 + 0.2 * (color == "red"))
    lines = ["x1,x2,color,price"] + [
        f"{x1[i]:.4f},{x2[i]:.4f},{color[i]},{price[i] * rng.uniform(0.97, 1.03):.2f}"
        for i in range(n)
    ]
    path = tmp_path_factory.mktemp("prices") / "prices.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(folder: Path, prices: Path, mode: str, epochs: int = 2) -> Path:
    config = folder / f"{mode}.yaml"
    config.write_text(CONFIG.format(path=prices, mode=mode, epochs=epochs))
    return config


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines()))


def _predicted(run_dir: Path, data: Path) -> np.ndarray:
    out = runner.invoke(app, ["predict", str(run_dir), str(data)])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(out.stdout.strip().splitlines()))
    return np.array([float(r["predicted_price"]) for r in rows])


def _test_mae(run_dir: Path) -> float:
    manifest = json.loads((run_dir / "run.json").read_text())
    return float(manifest["final_metrics"]["test"]["mae"])


def _check_units(run_dir: Path, prices: Path, mode: str) -> np.ndarray:
    """Test MAE, curves and predictions in prices; config.yaml shows the loss as written."""
    truth = np.array([float(r["price"]) for r in _rows(prices)])
    spread = float(np.mean(np.abs(truth - truth.mean())))
    spec = json.loads((run_dir / "data_spec.json").read_text())
    assert spec["targets"][0]["scale"][0] == mode
    assert "loss:\n  out: mse" in (run_dir / "config.yaml").read_text()
    # Prices, not standardized units (~0.x), and better than always guessing the mean.
    assert 100 < _test_mae(run_dir) < spread
    predicted = _predicted(run_dir, prices)
    assert 0.5 * truth.mean() < predicted.mean() < 1.5 * truth.mean()
    with (run_dir / "metrics.csv").open() as handle:
        last = list(csv.DictReader(handle))[-1]
    # The curves: the loss in scaled units, the metric in prices.
    assert float(last["val_loss"]) < 5 and float(last["val_mae"]) > 100
    return predicted


def test_log_and_none_report_prices_and_a_checkpoint_reloads(
    prices: Path, tmp_path: Path
) -> None:
    none = run_experiment(_config(tmp_path, prices, "none"), runs_dir=tmp_path / "none")
    assert none.status == "completed", none.message
    # Unscaled, a few epochs barely move the output from 0: the error is about the price.
    assert _test_mae(none.run_dir) > 100_000
    spec = json.loads((none.run_dir / "data_spec.json").read_text())
    assert spec["targets"][0]["scale"] is None

    result = run_experiment(_config(tmp_path, prices, "log"), runs_dir=tmp_path / "log")
    assert result.status == "completed", result.message
    predicted = _check_units(result.run_dir, prices, "log")
    again = evaluate_target(result.run_dir)
    assert again.metrics == pytest.approx(result.test_metrics, rel=1e-5)

    model = load_model_file(result.run_dir / "checkpoints" / "best.keras")
    unscale = model.get_layer("out_unscaled")
    assert isinstance(unscale, Unscale) and unscale.log and unscale.of == "out"
    loss = model.loss
    assert isinstance(loss, ScaledLoss) and loss.log
    assert ScaledLoss.from_config(loss.get_config()).get_config() == loss.get_config()
    rows = _rows(prices)
    x = {
        "features": np.array([[float(r["x1"]), float(r["x2"])] for r in rows], np.float32),
        "color": tf.constant([[r["color"]] for r in rows]),
    }
    np.testing.assert_allclose(
        model.predict(x, verbose=0).reshape(-1), predicted, rtol=1e-5
    )
    # The loss is the configured one, on the standardized logarithm.
    mean, std = unscale.mean, unscale.std
    y = np.array([[200_000.0]], np.float32)
    z = (np.log(y) - mean) / std
    expected = float(np.mean((0.5 * np.ones_like(z)) ** 2))
    assert float(loss(y, np.exp((z + 0.5) * std + mean))) == pytest.approx(expected, rel=1e-3)


def test_a_standard_run_reports_prices_and_resumes_exactly(
    prices: Path, tmp_path: Path
) -> None:
    whole = run_experiment(_config(tmp_path, prices, "standard"), runs_dir=tmp_path / "whole")
    assert whole.status == "completed", whole.message
    _check_units(whole.run_dir, prices, "standard")

    first = run_experiment(
        _config(tmp_path, prices, "standard"), ["training.epochs=1"], runs_dir=tmp_path / "half"
    )
    assert first.status == "completed", first.message
    resumed = resume_experiment(first.run_dir, ["training.epochs=2"])
    assert resumed.status == "completed", resumed.message

    def weights(run_dir: Path) -> list[np.ndarray]:
        model = load_model_file(run_dir / "checkpoints/resume/epoch-00002/model.keras")
        return [np.asarray(w) for w in model.get_weights()]

    for a, b in zip(weights(whole.run_dir), weights(first.run_dir), strict=True):
        np.testing.assert_array_equal(a, b)


def test_log_refusal_exits_2_at_the_cell(prices: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    lines = prices.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",0"
    bad.write_text("\n".join(lines) + "\n")
    config = tmp_path / "bad.yaml"
    config.write_text(CONFIG.format(path=bad, mode="log", epochs=1))
    result = runner.invoke(app, ["check", str(config)])
    assert result.exit_code == 2, result.output
    assert f"{bad}:6:4: column 'price' holds 0" in textwrap.dedent(result.output).replace(
        "\n", ""
    )
