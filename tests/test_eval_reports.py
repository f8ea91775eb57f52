"""Evaluation reports end to end: a tiny binary CSV run (early stopping, so both curve marks
show) and a tiny regression run, then eval, predict --threshold and the report page."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from datagen import REGRESSION, write_regression_csv
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.evaluate import evaluate_target
from dltrain.engine.run import run_experiment

runner = CliRunner()

BINARY = """\
name: tiny_binary
seed: 5
data: {{kind: csv, path: {path}, target: passed, task: binary, test: 0.25, validation: 0.25}}
model:
  type: sequential
  layers:
    - Dense: {{units: 1, activation: sigmoid}}
optimizer: {{name: sgd, learning_rate: 0.1}}
loss: binary_crossentropy
metrics: [accuracy]
training: {{epochs: 4, batch_size: 32, jit_compile: false}}
callbacks:
  early_stopping: {{monitor: val_loss, patience: 0, min_delta: 100.0}}
"""


def write_binary_csv(path: Path, n: int = 240) -> Path:
    """``passed`` drawn from a logistic model of two columns (a threshold has work to do)."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (n, 2))
    p = 1 / (1 + np.exp(-(2 * x[:, 0] - x[:, 1] + 0.5)))
    y = (rng.random(n) < p).astype(int)
    lines = ["hours,sleep,passed"] + [
        f"{a:.4f},{b:.4f},{c}" for (a, b), c in zip(x, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("binary")
    config = root / "binary.yaml"
    config.write_text(BINARY.format(path=write_binary_csv(root / "exam.csv")))
    result = run_experiment(config, runs_dir=root / "runs")
    assert result.status == "completed"
    return result.run_dir


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("regression")
    train = write_regression_csv(root / "train.csv", n=160, seed=1)
    test = write_regression_csv(root / "test.csv", n=40, seed=2)
    config = root / "reg.yaml"
    text = REGRESSION.format(train=train, test=test)
    config.write_text(text.replace("batch_size: 16}", "batch_size: 16, jit_compile: false}"))
    result = run_experiment(config, runs_dir=root / "runs")
    assert result.status == "completed"
    return result.run_dir


def test_a_binary_run_records_its_report_threshold_and_curve_marks(binary_run: Path) -> None:
    manifest = json.loads((binary_run / "run.json").read_text())
    record = manifest["evaluation"]["passed"]
    plots = binary_run / "plots"
    for name in ("classification_report.csv", "calibration.png", "calibration.json", "roc_pr.png"):
        assert (plots / name).is_file(), name
    table = list(csv.DictReader(io.StringIO((plots / "classification_report.csv").read_text())))
    assert [row["class"] for row in table] == ["0", "1", "accuracy", "macro avg", "weighted avg"]
    assert float(table[2]["f1"]) == pytest.approx(manifest["final_metrics"]["test"]["accuracy"])
    assert sum(int(row["support"]) for row in table[:2]) == manifest["data"]["test_size"]
    # The threshold: chosen on validation, with the test metrics at it and at 0.5.
    cut = record["threshold"]
    assert cut["rule"] == "max F1" and cut["split"] == "validation" and 0 < cut["value"] < 1
    assert set(cut["validation"]) == {"f1", "precision", "recall"}
    assert cut["test_at_default"]["accuracy"] == pytest.approx(record["accuracy"])
    assert 0.5 < record["roc_auc"] <= 1 and 0 <= record["calibration"]["ece"] <= 1
    assert record["calibration"]["bins"] == 15
    # Early stopping stopped at epoch 2; the test metrics come from epoch 1's checkpoint.
    assert manifest["stopped_early"] and manifest["epochs_completed"] == 2
    drawn = json.loads((plots / "curves.json").read_text())
    epoch = manifest["test_checkpoint"]["epoch"]
    assert {"epoch": epoch, "label": f"test checkpoint (epoch {epoch})"} in drawn["marks"]
    assert {"epoch": 2, "label": "early stop (epoch 2)"} in drawn["marks"]


def test_predict_threshold_auto_uses_the_recorded_threshold(binary_run: Path) -> None:
    data = binary_run.parent.parent.parent / "exam.csv"
    cut = json.loads((binary_run / "run.json").read_text())["evaluation"]["passed"]["threshold"]
    plain = runner.invoke(app, ["predict", str(binary_run), str(data)])
    auto = runner.invoke(app, ["predict", str(binary_run), str(data), "--threshold", "auto"])
    assert plain.exit_code == 0 and auto.exit_code == 0, auto.output
    rows = list(csv.DictReader(io.StringIO(auto.stdout)))
    for row in rows:
        assert row["predicted_passed"] == str(int(float(row["passed_probability"]) > cut["value"]))
    default = list(csv.DictReader(io.StringIO(plain.stdout)))
    assert [r["predicted_passed"] for r in default] == [
        str(int(float(r["passed_probability"]) > 0.5)) for r in default
    ]
    assert f"positive above {cut['value']:.6g}" in auto.stderr
    bad = runner.invoke(app, ["predict", str(binary_run), str(data), "--threshold", "high"])
    assert bad.exit_code == 2 and "--threshold must be auto" in bad.output
    assert "Traceback" not in bad.output


def test_eval_writes_a_classification_report_beside_its_result(binary_run: Path) -> None:
    result = evaluate_target(binary_run, split="validation")
    assert result.written is not None and len(result.reports) == 1
    report = result.reports[0]
    assert report.parent == result.written.parent
    assert report.name == result.written.stem + ".classification_report.csv"
    table = list(csv.DictReader(io.StringIO(report.read_text())))
    assert float(table[2]["f1"]) == pytest.approx(result.metrics["accuracy"], abs=1e-6)
    assert json.loads(result.written.read_text())["classification_reports"] == [report.name]


def test_a_regression_run_records_r2_mae_rmse_and_residuals_by_feature(
    regression_run: Path,
) -> None:
    manifest = json.loads((regression_run / "run.json").read_text())
    record = manifest["evaluation"]["y"]
    assert record["mae"] == pytest.approx(manifest["final_metrics"]["test"]["mae"], rel=1e-4)
    assert record["rmse"] >= record["mae"] and record["r2"] <= 1
    text = (regression_run / "plots" / "residuals_by_feature.csv").read_text()
    table = list(csv.DictReader(io.StringIO(text)))
    assert [row["feature"] for row in table] == ["x1", "x2"]  # numeric columns, not color
    assert all(int(row["examples"]) == 40 for row in table)
    assert (regression_run / "plots" / "residuals_by_feature.png").is_file()
    page = runner.invoke(app, ["report", str(regression_run)])
    assert page.exit_code == 0, page.output
    text = (regression_run / "report.html").read_text()
    assert "<dt>R²</dt>" in text and 'id="residuals-by-feature"' in text
    data = regression_run.parent.parent.parent / "test.csv"
    refused = runner.invoke(app, ["predict", str(regression_run), str(data), "--threshold", "0.3"])
    assert refused.exit_code == 2 and "applies to binary targets" in refused.output


def test_a_model_trained_on_logits_reports_and_predicts_probabilities(
    binary_run: Path, tmp_path: Path
) -> None:
    """A linear output with ``from_logits: true`` is the sigmoid model written another way:
    its report, threshold and ``predict`` columns read probabilities, as the sigmoid run's."""
    data = binary_run.parent.parent.parent / "exam.csv"
    config = tmp_path / "logits.yaml"
    text = BINARY.format(path=data).replace("{units: 1, activation: sigmoid}", "{units: 1}")
    text = text.replace(
        "loss: binary_crossentropy",
        "loss: {class_name: BinaryCrossentropy, config: {from_logits: true}}",
    )
    config.write_text(text)
    logits_run = run_experiment(config, runs_dir=tmp_path / "runs").run_dir
    record = json.loads((logits_run / "run.json").read_text())["evaluation"]["passed"]
    assert 0 < record["threshold"]["value"] < 1 and 0.5 < record["roc_auc"] <= 1
    bins = json.loads((logits_run / "plots" / "calibration.json").read_text())["table"]
    assert all(0 <= low <= mean <= high <= 1 for low, high, _, mean, _ in bins)
    by_run = {}
    for run in (binary_run, logits_run):
        result = runner.invoke(app, ["predict", str(run), str(data)])
        assert result.exit_code == 0, result.output
        by_run[run] = np.array(
            [float(r["passed_probability"]) for r in csv.DictReader(io.StringIO(result.stdout))]
        )
    assert ((by_run[logits_run] >= 0) & (by_run[logits_run] <= 1)).all()
    np.testing.assert_allclose(by_run[logits_run], by_run[binary_run], atol=0.02)
