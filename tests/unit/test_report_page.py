"""``dltrain report`` pages from hand-made run and study folders (no TensorFlow).

The folders hold what dltrain writes (run.json, config.yaml, metrics.csv, the confusion
counts, study.json and trial folders), or less: old and damaged runs still get a page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from datagen import write_run_folder
from probes import run_probe
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.report import write_report_page
from dltrain.errors import UsageError
from dltrain.report.html.config_match import config_differences, layer_names
from dltrain.report.listing import compare_runs

runner = CliRunner()

# The one test that renders its figures: the page's real inline SVG (namespaces stripped, no URL).
RENDERED = {"test_a_run_page_holds_the_runs_values_and_links_only_its_files"}


@pytest.fixture(autouse=True)
def _figures_unrendered(request: pytest.FixtureRequest) -> None:
    """Every other page test is about sections, values and links: its figures are stand-ins."""
    if request.node.originalname not in RENDERED:
        request.getfixturevalue("unrendered")

CONFIG = """\
name: hand
seed: 7
data: {kind: mnist, validation: 0.2}
model:
  type: sequential
  input_shape: [28, 28]
  layers:
  - Flatten: {}
  - Dense: {units: 32, activation: relu}
  - Dense: {units: 2, activation: softmax}
optimizer: {name: adam, learning_rate: 0.001}
loss: categorical_crossentropy
metrics: [accuracy]
training: {epochs: 3, batch_size: 32}
"""


def make_run(
    root: Path,
    stamp: str = "20260101T000000Z",
    *,
    config: str = CONFIG,
    name: str = "hand",
    accuracy: float = 0.8125,
    run: Path | None = None,
) -> Path:
    """A completed run folder as dltrain writes one (``root/name/stamp``, or ``run``),
    without training."""
    run = run or root / name / stamp
    (run / "plots").mkdir(parents=True)
    manifest: dict[str, Any] = {
        "schema_version": 2,
        "status": "completed",
        "name": name,
        "command": ["dltrain", "run", "hand.yaml", "--set", "training.epochs=3"],
        "config_files": [str(root / "hand.yaml")],
        "overrides": ["training.epochs=3"],
        "seed": 7,
        "started_at": "2026-01-01T00:00:00+00:00",
        "finished_at": "2026-01-01T00:01:05+00:00",
        "epochs_planned": 3,
        "epochs_completed": 3,
        "batch_size": 32,
        "parameters": {"total": 25186, "trainable": 25186},
        "data": {
            "train_size": 48,
            "validation_size": 12,
            "test_size": 16,
            "fingerprint": {
                "kind": "mnist",
                "source": "/data/mnist.npz",
                "files": [{"name": "mnist.npz", "bytes": 1234, "sha256": "ab" * 32}],
                "splits": {
                    "train": {"class_counts": {"label": {"0": 24, "1": 24}}},
                    "test": {"class_counts": {"label": {"0": 8, "1": 8}}},
                },
            },
            "warnings": ["the test split is small"],
        },
        "versions": {"python": "3.11.7", "tensorflow": "2.21.0", "dltrain": "0.1.0"},
        "platform": {"system": "Linux", "devices": ["CPU"], "onednn": True},
        "jit_compile": {"setting": "auto", "enabled": True, "reason": "auto: a dense test"},
        "steps_per_execution": 15,
        "fused_executions": True,
        "timings": {"total_s": 65.2},
        "final_metrics": {
            "test": {"accuracy": accuracy, "loss": 0.4321},
            "validation": {"accuracy": 0.75, "loss": 0.5},
        },
        "best": {"monitor": "val_loss", "mode": "min", "value": 0.5, "epoch": 2},
        "test_checkpoint": {
            "file": "checkpoints/best.keras",
            "monitor": "val_loss",
            "mode": "min",
            "value": 0.5,
            "epoch": 2,
        },
        "stopped_early": True,
        "resumes": [
            {
                "at": "2026-01-01T00:00:40+00:00",
                "from_epoch": 1,
                "command": ["dltrain", "run", "--resume", str(run)],
            }
        ],
    }
    (run / "run.json").write_text(json.dumps(manifest, indent=2))
    (run / "config.yaml").write_text(config)
    (run / "model.txt").write_text("Model: hand\nflatten (Flatten)  (None, 784)  0\n")
    (run / "metrics.csv").write_text(
        "epoch,accuracy,loss,val_accuracy,val_loss,learning_rate,epoch_time_s\n"
        "1,0.6,0.9,0.55,0.8,0.001,1.0\n2,0.7,0.6,0.75,0.5,0.001,1.0\n"
        "3,0.8,0.4,0.7,0.55,0.0005,1.0\n"
    )
    counts = {
        "labels": ["cat", "dog"],
        "counts": [[6, 2], [1, 7]],
        "caption": "test split, best checkpoint (epoch 2)",
    }
    (run / "plots" / "confusion_matrix.json").write_text(json.dumps(counts))
    (run / "eval-test-20260102T000000000000Z.json").write_text(
        json.dumps({"split": "test", "metrics": {"accuracy": 0.8125}})
    )
    return run


def links(page: Path) -> list[str]:
    return re.findall(r'(?:href|src)="([^"#][^"]*)"', page.read_text())


def assert_self_contained(page: Path) -> str:
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    for href in links(page):
        if not href.startswith("data:image/png;base64,"):
            assert (page.parent / unquote(href)).exists(), href
    return text


def embedded(text: str) -> Any:
    match = re.search(r'id="dltrain-data">(.*?)</script>', text, re.DOTALL)
    assert match
    return json.loads(match.group(1))


def cells(text: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', text, re.DOTALL)
    assert body, table_id
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1))
    ]


# ---------------------------------------------------------------------------- a run
def test_a_run_page_holds_the_runs_values_and_links_only_its_files(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    page = run / "report.html"
    text = assert_self_contained(page)
    manifest = json.loads((run / "run.json").read_text())
    data = embedded(text)
    assert data["run.json"] == manifest
    assert [r["epoch"] for r in data["metrics.csv"]] == ["1", "2", "3"]
    assert cells(text, "test-metrics") == [["accuracy", "0.8125"], ["loss", "0.4321"]]
    assert "checkpoints/best.keras, epoch 2 (val_loss 0.5)" in text
    assert "dltrain run hand.yaml --set training.epochs=3" in text  # the command to reproduce
    assert "test checkpoint (epoch 2)" in text and "early stop (epoch 3)" in text
    assert text.count("<svg") >= 3  # loss, accuracy, the learning rate, the confusion matrix
    # The per-class table from the confusion counts (rows true, columns predicted).
    assert cells(text, "per-class-confusion_matrix") == [
        ["cat", "8", "7", "0.8571", "0.75", "0.8"],
        ["dog", "8", "9", "0.7778", "0.875", "0.8235"],
    ]
    assert "the test split is small" in text and "ab" * 32 in text
    assert "15 (one XLA program each)" in text
    assert "<dt>oneDNN kernels (TensorFlow)</dt><dd>on</dd>" in text
    assert "No test examples with predictions" in text  # the gallery says what it needs
    assert "from epoch" in text and "eval-test-20260102T000000000000Z.json" in text
    assert {unquote(h) for h in links(page)} >= {"run.json", "config.yaml", "metrics.csv"}


def test_an_old_run_missing_most_files_still_gets_a_page(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path)  # a minimal manifest, no plots, no data facts
    page = write_report_page([run])
    assert page.kind == "run" and page.path == run / "report.html"
    text = assert_self_contained(page.path)
    assert "No test metrics" in text and "No data facts" in text
    assert "not recorded" in text
    assert "interrupted" in text


def test_a_damaged_run_json_is_shown_not_raised(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "run.json").write_text("{not json")
    (run / "metrics.csv").unlink()
    text = write_report_page([run]).path.read_text()
    assert "run.json: not JSON" in text and "No metrics.csv" in text


def test_a_name_that_closes_a_script_cannot_break_the_page(tmp_path: Path) -> None:
    run = make_run(tmp_path, name="x</script><b>")
    text = write_report_page([run]).path.read_text()
    data = embedded(text)
    assert data["run.json"]["name"] == "x</script><b>"
    assert "<b>" not in text.split('id="dltrain-data">')[0]


def test_output_elsewhere_links_relative_to_the_page(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs")
    out = tmp_path / "pages" / "my report.html"
    out.parent.mkdir()
    page = write_report_page([run], out)
    assert page.path == out
    assert "../runs/hand/20260101T000000Z/run.json" in links(out)
    assert_self_contained(out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing"], "no such folder"),
        (["empty"], "not a run folder or a study folder"),
        (["run", "--metric", "loss"], "--metric chooses the overlaid curve of a comparison"),
        (["run", "run"], "the same run is given twice"),
        (["run", "other", "--metric", "val_nope"], "--metric val_nope: no run has it"),
    ],
)
def test_bad_arguments_are_one_message_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    make_run(tmp_path, "20260101T000000Z")
    make_run(tmp_path, "20260101T000001Z")
    (tmp_path / "empty").mkdir()
    names = {"run": "hand/20260101T000000Z", "other": "hand/20260101T000001Z"}
    argv = [
        str(tmp_path / names.get(a, a))
        if not a.startswith("-") and a not in ("loss", "val_nope")
        else a
        for a in args
    ]
    result = runner.invoke(app, ["report", *argv])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_report_never_imports_tensorflow(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    proc = run_probe("report", str(run))
    assert proc.returncode == 0, proc.stderr
    heavy = proc.stderr.rsplit("HEAVY=", 1)[1].split()[0] if "HEAVY=\n" not in proc.stderr else ""
    assert "tensorflow" not in heavy and "keras" not in heavy


# ----------------------------------------------------------------------- comparisons
def test_layers_are_matched_by_name_so_an_inserted_dropout_is_one_row() -> None:
    base = {
        "model": {"layers": [{"Flatten": {}}, {"Dense": {"units": 32}}, {"Dense": {"units": 2}}]},
        "seed": 1,
    }
    more = {
        "model": {
            "layers": [
                {"Flatten": {}},
                {"Dense": {"units": 64}},
                {"Dropout": {"rate": 0.5}},
                {"Dense": {"units": 2}},
            ]
        },
        "seed": 1,
    }
    assert layer_names(more["model"]["layers"]) == ["flatten", "dense", "dropout", "dense_1"]
    assert config_differences([base, more]) == [
        ("model.layers[dense].Dense.units", [32, 64]),
        ("model.layers[dropout]", ["-", "Dropout(rate=0.5)"]),
    ]
    named = {"model": {"layers": [{"name": "h1", "Dense": {"units": 4}}]}}
    renamed = {"model": {"layers": [{"name": "h2", "Dense": {"units": 4}}]}}
    assert [k for k, _ in config_differences([named, renamed])] == [
        "model.layers[h1]",
        "model.layers[h2]",
    ]


def test_a_comparison_page_puts_runs_side_by_side(tmp_path: Path) -> None:
    first = make_run(tmp_path / "runs", "20260101T000000Z")
    other = CONFIG.replace(
        "  - Dense: {units: 32, activation: relu}\n",
        "  - Dense: {units: 32, activation: relu}\n  - Dropout: {rate: 0.2}\n",
    )
    second = make_run(tmp_path / "runs", "20260101T000001Z", config=other, accuracy=0.875)
    page = write_report_page(
        [first, second],
        metric="loss",
        clock=lambda: __import__("datetime").datetime(2026, 2, 3, 4, 5, 6),
    )
    assert page.kind == "comparison"
    assert page.path == tmp_path / "runs" / "compare-20260203T040506Z.html"
    text = assert_self_contained(page.path)
    assert cells(text, "config-diff") == [["model.layers[dropout]", "-", "Dropout(rate=0.2)"]]
    assert ["test/accuracy", "0.8125", "0.875"] in cells(text, "metrics")
    assert "Curves: loss" in text
    assert [r["run.json"]["final_metrics"]["test"]["accuracy"] for r in embedded(text)["runs"]] == [
        0.8125,
        0.875,
    ]


def test_compare_takes_metric_too(tmp_path: Path) -> None:
    first = make_run(tmp_path / "runs", "20260101T000000Z")
    second = make_run(tmp_path / "runs", "20260101T000001Z")
    result = runner.invoke(
        app,
        [
            "compare",
            str(first),
            str(second),
            "--metric",
            "accuracy",
            "--plot",
            str(tmp_path / "c.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.png").is_file()
    with pytest.raises(UsageError, match="--metric nope: no run has it"):
        compare_runs([first, second], tmp_path / "d.png", metric="nope")


# --------------------------------------------------------------------------- a study
def make_study(root: Path) -> Path:
    study = root / "tuned" / "study1"
    trials = []
    for number, (value, state) in enumerate(
        [(0.5, "complete"), (0.3, "complete"), (None, "failed")]
    ):
        target = study / f"trial-{number:04d}" / f"20260101T00000{number}Z"
        make_run(root, name="study1", run=target)
        manifest = json.loads((target / "run.json").read_text())
        params = {"optimizer.learning_rate": 0.001 * (number + 1), "training.batch_size": 16}
        manifest["tune"] = {
            "study": "study1",
            "trial": number,
            "state": state,
            "value": value,
            "params": params,
            "reason": "loss became NaN" if value is None else None,
        }
        (target / "run.json").write_text(json.dumps(manifest))
        trials.append(
            {
                "number": number,
                "state": state,
                "value": value,
                "params": params,
                "reason": "loss became NaN" if value is None else None,
            }
        )
    document = {
        "study": "study1",
        "metric": "val_loss",
        "direction": "minimize",
        "trials_wanted": 3,
        "trials": {"complete": 2, "pruned": 0, "failed": 1, "running": 0},
        "best": {"value": 0.3, "trial": 1, "params": trials[1]["params"]},
        "trial_list": trials,
    }
    (study / "study.json").write_text(json.dumps(document))
    (root / "hand.yaml").write_text(CONFIG)
    return study


def test_a_study_page_links_a_page_per_trial(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    result = runner.invoke(app, ["report", str(study)])
    assert result.exit_code == 0, result.output
    assert "trial pages: 3" in result.output
    page = study / "report.html"
    text = assert_self_contained(page)
    rows = cells(text, "trials")
    assert [r[:3] for r in rows] == [
        ["0", "complete", "0.5"],
        ["1 (best)", "complete", "0.3"],
        ["2", "failed", "-"],
    ]
    assert all((study / unquote(h)).is_file() for h in links(page) if h.endswith(".html"))
    assert len([h for h in links(page) if h.endswith("report.html")]) == 3
    assert "Only 2 complete trials" in text
    assert cells(text, "stopped") == [["2", "failed", "-", "loss became NaN"]]
    # The best trial against the base: the base config's values read from its YAML.
    assert ["optimizer.learning_rate", "0.001", "0.002"] in cells(text, "best-diff")
    assert embedded(text)["trials"][1]["value"] == 0.3


# ------------------------------------------------------------------- the worst examples
def test_worst_examples_are_the_most_confident_mistakes_first() -> None:
    import numpy as np

    from dltrain.report.examples import worst_examples

    truth = np.array([0, 1, 2, 0])
    pred = np.array([[0.9, 0.1, 0.0], [0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.8, 0.0]])
    rows = worst_examples(truth, pred, "multiclass")
    assert [(r["index"], r["true"], r["predicted"]) for r in rows] == [(3, 0, 1), (1, 1, 0)]
    assert rows[0]["score"] == pytest.approx(0.8)
    binary = worst_examples(np.array([1, 0, 1]), np.array([0.4, 0.9, 0.6]), "binary")
    assert [r["index"] for r in binary] == [1, 0]  # 2 is right
    regression = worst_examples(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 0.0]), "regression")
    assert [(r["index"], r["score"]) for r in regression] == [(2, 3.0), (0, 0.5), (1, 0.0)]


def test_the_gallery_shows_images_as_thumbnails_and_other_inputs_as_fields(tmp_path: Path) -> None:
    import numpy as np

    from dltrain.report.examples import write_examples

    run = make_run(tmp_path)
    rows = [
        {"index": 5, "true": 0, "predicted": 1, "score": 0.9},
        {"index": 2, "true": 1, "predicted": 0, "score": 0.7},
    ]
    image = np.arange(28 * 28, dtype=np.float32).reshape(28, 28)
    inputs = {
        5: {"image": image, "note": np.array(b"blurry")},
        2: {"image": image.T, "note": np.array(b"dark")},
    }
    write_examples(run / "plots", rows, inputs, ["cat", "dog"], "test split, last epoch")
    assert (run / "plots" / "examples" / "5.png").read_bytes().startswith(b"\x89PNG")
    text = write_report_page([run]).path.read_text()
    table_rows = cells(text, "examples")
    assert [r[1:] for r in table_rows] == [
        ["5", "cat", "dog", "0.9", "blurry"],
        ["2", "dog", "cat", "0.7", "dark"],
    ]
    assert text.count('class="thumb"') == 2
    assert "No test examples" not in text


def test_exports_are_a_table_and_open_shows_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path)
    (run / "export").mkdir()
    record = {
        "format": "tflite",
        "quantize": "int8",
        "artifact": "model.tflite",
        "size_bytes": 27000,
        "verification": {
            "status": "verified",
            "max_abs_diff": 0.004,
            "latency_ms_per_example": 0.21,
        },
    }
    (run / "export" / "model.tflite.export.json").write_text(json.dumps(record))
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    result = runner.invoke(app, ["report", str(run), "--open"])
    assert result.exit_code == 0, result.output
    assert opened == [(run / "report.html").resolve().as_uri()]
    text = (run / "report.html").read_text()
    assert cells(text, "exports") == [
        ["tflite", "int8", "model.tflite", "27,000", "verified", "0.004", "0.21"]
    ]


def test_a_csv_example_is_a_row_of_its_columns(tmp_path: Path) -> None:
    import numpy as np

    from dltrain.report.examples import write_examples

    run = make_run(tmp_path)
    rows = [{"index": 3, "true": 62.5, "predicted": 8.25, "score": 54.25}]
    inputs = {3: {"features": np.array([17.125, -2.5]), "color": np.array(b"red")}}
    write_examples(run / "plots", rows, inputs, None, "", columns={"features": ["x1", "x2"]})
    text = write_report_page([run]).path.read_text()
    assert "absolute error" in text
    assert cells(text, "examples") == [["-", "3", "62.5", "8.25", "54.25", "17.125", "-2.5", "red"]]


def test_roc_and_precision_recall_of_a_binary_target(tmp_path: Path) -> None:
    import numpy as np

    from dltrain.report.roc import roc_pr, write_roc_pr

    # scikit-learn's documented example: ROC area 0.75, average precision 0.8333.
    truth, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    curves = roc_pr(truth, scores)
    assert curves is not None
    assert curves["roc_auc"] == pytest.approx(0.75)
    assert curves["average_precision"] == pytest.approx(0.8333, abs=1e-4)
    assert curves["roc"][0] == [0.0, 0.0] and curves["roc"][-1] == [1.0, 1.0]
    assert roc_pr(np.array([1, 1]), np.array([0.2, 0.9])) is None  # no negatives: no curve

    run = make_run(tmp_path)
    write_roc_pr(run / "plots", truth, scores, "roc_pr.json")
    text = write_report_page([run]).path.read_text()
    assert "ROC (area 0.75)" in text and "average precision 0.8333" in text
    assert "ROC and precision-recall curves: none" not in text


def test_the_evaluation_report_shows_when_its_files_exist(tmp_path: Path) -> None:
    import numpy as np

    from dltrain.report.calibration import write_calibration
    from dltrain.report.classification import write_classification_report
    from dltrain.report.regression_report import write_feature_residuals

    run = make_run(tmp_path)
    old = write_report_page([run]).path.read_text()
    assert "Evaluation report (per-class table" in old  # an older run says what it lacks
    truth, pred = np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0])
    write_classification_report(run / "plots" / "classification_report.csv", truth, pred,
                                ["cat", "dog"])  # fmt: skip
    write_calibration(run / "plots", truth, np.array([0.1, 0.6, 0.7, 0.9, 0.4]), "binary")
    manifest = json.loads((run / "run.json").read_text())
    manifest["evaluation"] = {
        "label": {
            "task": "binary",
            "checkpoint_epoch": 2,
            "accuracy": 0.6,
            "roc_auc": 0.8333,
            "calibration": {"ece": 0.21, "bins": 15, "confidence": "p", "examples": 5},
            "threshold": {
                "value": 0.375,
                "rule": "max F1",
                "split": "validation",
                "validation": {"f1": 0.9, "precision": 0.8, "recall": 1.0},
                "test": {"accuracy": 0.8, "f1": 0.75},
                "test_at_default": {"accuracy": 0.6, "f1": 0.6667},
            },
        }
    }
    (run / "run.json").write_text(json.dumps(manifest))
    text = write_report_page([run]).path.read_text()
    assert cells(text, "classification-report")[0] == ["cat", "0.5", "0.5", "0.5", "2"]
    assert cells(text, "classification-report")[2][0] == "accuracy"
    assert "per-class-confusion_matrix" not in text  # the CSV's table replaces it
    assert "decision threshold" in text and "0.375 (max F1 on validation" in text
    assert cells(text, "threshold") == [
        ["test accuracy", "0.6", "0.8"],
        ["test f1", "0.6667", "0.75"],
    ]
    assert "ECE" in text and "reliability, ECE" in text and "ROC AUC" in text

    regression = make_run(tmp_path, "20260101T000001Z")
    (regression / "plots" / "confusion_matrix.json").unlink()
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    write_feature_residuals(regression / "plots", {"x": x}, 2 * x, x)
    manifest["evaluation"] = {"y": {"task": "regression", "r2": 0.91, "mae": 1.5, "rmse": 2.25}}
    (regression / "run.json").write_text(json.dumps(manifest))
    text = write_report_page([regression]).path.read_text()
    assert "<dt>R²</dt><dd>0.91</dd>" in text and "<dt>RMSE</dt><dd>2.25</dd>" in text
    assert cells(text, "residuals-by-feature")[0][:3] == ["x", "50", "1"]
    assert "ROC and precision-recall curves: none" not in text  # no binary target


def test_an_older_run_without_test_checkpoint_marks_its_best_epoch(tmp_path: Path) -> None:
    # Runs from before run.json recorded test_checkpoint were tested with best.keras.
    run = make_run(tmp_path)
    manifest = json.loads((run / "run.json").read_text())
    del manifest["test_checkpoint"]
    manifest["stopped_early"] = False
    (run / "run.json").write_text(json.dumps(manifest))
    text = write_report_page([run]).path.read_text()
    assert "<text>test checkpoint (epoch 2)</text>" in text and "early stop" not in text
