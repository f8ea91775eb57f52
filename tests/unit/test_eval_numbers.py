"""The evaluation reports' numbers against hand computations (NumPy only, no TensorFlow):
per-class precision/recall/F1, ROC AUC as a Mann-Whitney pair count, the validation
threshold, ECE on constructed predictions, R², MAE and RMSE, residuals by feature."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dltrain.report.calibration import BINS, calibration_bins, write_calibration
from dltrain.report.classification import write_classification_report
from dltrain.report.regression_report import (
    feature_residuals,
    regression_metrics,
    write_feature_residuals,
)
from dltrain.report.roc import roc_pr
from dltrain.report.threshold import binary_scores, choose_threshold


# ------------------------------------------------------------------ classification report
def test_classification_report_matches_a_hand_count(tmp_path: Path) -> None:
    # 3 classes, 10 examples. Class 2 is never predicted (precision 0 by convention).
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 1, 0, 0, 1, 1])
    rows = write_classification_report(tmp_path / "r.csv", truth, pred, ["a", "b", "c"])
    by = {r.label: r for r in rows}
    # a: 3 hits of 4 predicted (0,0,0 + the 1 and 2 that went to a -> 5 predicted)
    assert (by["a"].precision, by["a"].recall, by["a"].support) == (3 / 5, 3 / 4, 4)
    assert by["a"].f1 == pytest.approx(2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4))
    assert (by["b"].precision, by["b"].recall, by["b"].support) == (2 / 5, 2 / 3, 3)
    assert (by["c"].precision, by["c"].recall, by["c"].f1) == (0.0, 0.0, 0.0)
    assert by["accuracy"].f1 == pytest.approx(5 / 10) and by["accuracy"].support == 10
    f1s = [by[c].f1 for c in "abc"]
    assert by["macro avg"].f1 == pytest.approx(sum(f1s) / 3)
    assert by["macro avg"].precision == pytest.approx((3 / 5 + 2 / 5 + 0) / 3)
    assert by["weighted avg"].recall == pytest.approx((4 * 3 / 4 + 3 * 2 / 3 + 0) / 10)
    assert by["weighted avg"].f1 == pytest.approx((4 * f1s[0] + 3 * f1s[1] + 3 * f1s[2]) / 10)
    table = list(csv.reader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert table[0] == ["class", "precision", "recall", "f1", "support"]
    assert [row[0] for row in table[1:]] == ["a", "b", "c", "accuracy", "macro avg", "weighted avg"]
    assert table[4] == ["accuracy", "", "", "0.5", "10"]


# ------------------------------------------------------------------ ROC AUC and threshold
def mann_whitney(truth: np.ndarray, scores: np.ndarray) -> float:
    """The share of (positive, negative) pairs the scores order right, ties counting 1/2."""
    pos = scores[truth == 1]
    neg = scores[truth == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_is_the_mann_whitney_pair_count_with_ties() -> None:
    truth = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.9, 0.7, 0.4, 0.4, 0.4, 0.2, 0.1])
    # Pairs by hand: 0.9 beats 3 negatives and ties 1 (3.5); 0.7 beats 3 (3); 0.4 ties 2 and
    # beats 1 (2); 0.2 beats 1 (1): 9.5 of 16.
    curves = roc_pr(truth, scores)
    assert curves is not None
    assert curves["roc_auc"] == pytest.approx(9.5 / 16)
    assert curves["roc_auc"] == pytest.approx(mann_whitney(truth, scores))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    rounded = np.round(labels * 0.3 + rng.random(300), 1)  # many ties
    result = roc_pr(labels, rounded)
    assert result is not None and result["roc_auc"] == pytest.approx(mann_whitney(labels, rounded))


def test_the_threshold_maximizes_f1_on_validation() -> None:
    truth = np.array([1, 1, 0, 1, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.45, 0.3, 0.2, 0.1])
    choice = choose_threshold(truth, scores)
    assert choice is not None
    # Cutting below 0.45 takes 3 positives and 1 negative: F1 = 6/7, the best cut.
    assert choice.threshold == pytest.approx((0.45 + 0.3) / 2)
    assert (choice.f1, choice.precision, choice.recall) == pytest.approx((6 / 7, 3 / 4, 1.0))
    assert binary_scores(truth, scores, choice.threshold)["f1"] == pytest.approx(choice.f1)
    # Brute force over every cut between and around the scores agrees.
    cuts = np.r_[0.0, (scores[1:] + scores[:-1]) / 2, 1.0]
    assert max(binary_scores(truth, scores, c)["f1"] for c in cuts) == pytest.approx(choice.f1)
    at_half = binary_scores(truth, scores, 0.5)
    # At 0.5: 2 positives and 1 negative called positive, 1 positive missed.
    assert at_half == pytest.approx(
        {"accuracy": 5 / 7, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3}
    )
    assert choose_threshold(np.zeros(4), np.linspace(0, 1, 4)) is None  # no positive


# ------------------------------------------------------------------ calibration
def test_ece_of_constructed_binary_predictions() -> None:
    # 10 examples at 0.25 (bin 3) with 5 positives, 10 at 0.85 (bin 12) with 9 positives:
    # ECE = 0.5 * |0.25 - 0.5| + 0.5 * |0.85 - 0.9| = 0.15.
    scores = np.r_[np.full(10, 0.25), np.full(10, 0.85)]
    truth = np.r_[np.ones(5), np.zeros(5), np.ones(9), np.zeros(1)]
    result = calibration_bins(truth, scores, "binary")
    assert result["ece"] == pytest.approx(0.15)
    assert result["bins"] == BINS == 15
    assert [row[2] for row in result["table"]] == [10, 10]
    assert result["table"][0][:2] == pytest.approx([3 / 15, 4 / 15], abs=1e-6)


def test_ece_of_top_label_confidence_and_a_perfect_model(tmp_path: Path) -> None:
    # Top-label confidence 0.6 on 5 examples, 3 right; 1.0 on 5, all right: ECE = 0.5 * 0.
    probs = np.array([[0.6, 0.3, 0.1]] * 5 + [[0.0, 1.0, 0.0]] * 5)
    truth = np.array([0, 0, 0, 1, 2, 1, 1, 1, 1, 1])
    result = write_calibration(tmp_path, truth, probs, "multiclass", caption="test")
    assert result["ece"] == pytest.approx(0.0)
    truth[0] = 2  # 2 of 5 right at 0.6: |0.6 - 0.4| on half the examples
    assert calibration_bins(truth, probs, "multiclass")["ece"] == pytest.approx(0.1)
    assert json.loads((tmp_path / "calibration.json").read_text())["caption"] == "test"
    assert (tmp_path / "calibration.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ regression
def test_r2_mae_rmse_by_hand() -> None:
    truth = np.array([3.0, -0.5, 2.0, 7.0])
    pred = np.array([2.5, 0.0, 2.0, 8.0])
    # residuals 0.5, -0.5, 0, -1; mean truth 2.875
    ss_res = 0.25 + 0.25 + 0 + 1
    ss_tot = sum((t - 2.875) ** 2 for t in truth)
    numbers = regression_metrics(truth, pred)
    assert numbers["r2"] == pytest.approx(1 - ss_res / ss_tot)
    assert numbers["mae"] == pytest.approx(2.0 / 4)
    assert numbers["rmse"] == pytest.approx(math.sqrt(ss_res / 4))
    assert regression_metrics(truth, np.full(4, truth.mean()))["r2"] == pytest.approx(0.0)
    with_gap = regression_metrics(np.r_[truth, np.nan], np.r_[pred, 1.0])
    assert with_gap["examples"] == 4 and with_gap["r2"] == pytest.approx(numbers["r2"])


def test_residuals_by_feature_find_the_column_the_model_missed(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    used, missed = rng.normal(size=400), rng.normal(size=400)
    truth = 2 * used + missed
    pred = 2 * used  # the model ignored `missed`: its residual is exactly `missed`
    rows = feature_residuals({"used": used, "missed": missed}, truth - pred)
    assert rows[1]["residual_correlation"] == pytest.approx(1.0)
    assert abs(float(rows[0]["residual_correlation"])) < 0.15
    assert float(rows[1]["mean_residual_bin1"]) < -1 < 1 < float(rows[1]["mean_residual_bin5"])
    columns = {f"c{i}": rng.normal(size=400) for i in range(14)}
    assert len(feature_residuals(columns, truth - pred)) == 12  # capped
    written = write_feature_residuals(tmp_path, {"missed": missed}, truth, pred)
    assert [p.name for p in written] == ["residuals_by_feature.csv", "residuals_by_feature.png"]
    table = list(csv.DictReader(io.StringIO(written[0].read_text())))
    assert table[0]["feature"] == "missed" and float(table[0]["residual_correlation"]) > 0.99


# ------------------------------------------------------------------ curves
def test_curves_mark_the_test_checkpoint_and_early_stop_and_log_a_wide_loss(
    tmp_path: Path,
) -> None:
    from dltrain.report.plots import epoch_marks, spans_orders, write_training_plots

    rows: list[dict[str, float | str]] = [
        {"epoch": e, "loss": 10.0 ** (1 - e), "val_loss": 2 * 10.0 ** (1 - e)} for e in (1, 2, 3)
    ]
    marks = epoch_marks(2, 3)
    assert marks == [(2.0, "test checkpoint (epoch 2)"), (3.0, "early stop (epoch 3)")]
    assert epoch_marks(None, None) == []
    written = write_training_plots(tmp_path, rows, marks=marks)
    drawn = json.loads((tmp_path / "curves.json").read_text())
    assert drawn["marks"] == [
        {"epoch": 2.0, "label": "test checkpoint (epoch 2)"},
        {"epoch": 3.0, "label": "early stop (epoch 3)"},
    ]
    assert drawn["log_y"] == ["loss"] and drawn["plots"] == [p.name for p in written]
    assert spans_orders([0.0, 1.0, 99.0]) is False  # zero is left out; 99 < 100
    assert spans_orders([0.5, 50.0]) is True


# ------------------------------------------------------------------ predict --threshold
def test_predict_thresholds_resolve_from_the_run_or_refuse(tmp_path: Path) -> None:
    from dltrain.data.spec import TargetInfo
    from dltrain.engine.predict import prediction_columns, resolve_thresholds
    from dltrain.errors import UsageError
    from dltrain.storage.manifest import RunManifest

    binary = [TargetInfo("ok", "binary", 2, ("no", "yes"))]
    manifest = RunManifest(status="completed")
    assert resolve_thresholds(None, binary, manifest, tmp_path) == {}
    assert resolve_thresholds("0.3", binary, manifest, tmp_path) == {"ok": (0.3, "--threshold")}
    with pytest.raises(UsageError, match="no decision threshold recorded for target 'ok'"):
        resolve_thresholds("auto", binary, manifest, tmp_path)
    recorded = manifest.updated(
        evaluation={"ok": {"task": "binary", "threshold": {"value": 0.25, "rule": "max F1"}}}
    )
    assert resolve_thresholds("auto", binary, recorded, tmp_path) == {
        "ok": (0.25, "max F1 on the validation split")
    }
    for bad in ("1.5", "-0.1", "nan", "high"):
        with pytest.raises(UsageError, match="--threshold must be auto"):
            resolve_thresholds(bad, binary, manifest, tmp_path)
    with pytest.raises(UsageError, match="applies to binary targets"):
        resolve_thresholds("0.3", [TargetInfo("y", "regression")], manifest, tmp_path)
    probabilities = [np.array([[0.2], [0.4], [0.6]])]
    assert prediction_columns(binary, probabilities)["predicted_ok"] == ["no", "no", "yes"]
    cut = prediction_columns(binary, probabilities, {"ok": 0.3})
    assert cut["predicted_ok"] == ["no", "yes", "yes"]
    assert cut["ok_probability"] == ["0.200000", "0.400000", "0.600000"]


def test_logits_become_probabilities_without_overflow() -> None:
    from dltrain.report.evaluation import logits_to_probabilities

    one = np.array([[-1000.0], [-2.0], [0.0], [3.0], [1000.0]])
    np.testing.assert_allclose(
        logits_to_probabilities(one)[:, 0], [0.0, 1 / (1 + np.e**2), 0.5, 1 / (1 + np.e**-3), 1.0],
        rtol=1e-6,
    )
    wide = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    got = logits_to_probabilities(wide)
    want = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(got[0], want, rtol=1e-6)
    np.testing.assert_allclose(got[1], [1.0, 0.0, 0.0], atol=1e-12)
    assert got.dtype == np.float32 and np.isfinite(got).all()
