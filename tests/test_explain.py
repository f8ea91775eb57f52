"""dltrain explain end to end: a tiny table, image and text run, each trained once per module.

What must hold: permutation importance ranks the informative column above pure noise;
integrated gradients are complete (within the stated tolerance) on an MLP and a CNN; the
randomized-model check passes on trained models and fails where shuffling the weights
changes nothing; Grad-CAM maps have the image's shape; text rows get per-token attributions;
a method that does not apply is refused with exit 2 and one message.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from datagen import write_mnist_npz
from probes import EXPORT_NOISE
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment
from dltrain.explain.forward import explained_units, model_forward, predict_first
from dltrain.explain.gradients import integrated_gradients
from dltrain.explain.sanity import randomization_check, shuffle_weights

runner = CliRunner()

pytestmark = [pytest.mark.slow, *EXPORT_NOISE]

_FAST = "output: {plots: false}\n"

TABLE = """\
name: table
seed: 3
data:
  kind: csv
  path: {path}
  target: y
  categorical: [color]
  test: 0.25
  task: regression
model:
  layers:
    - Dense: {{units: 16, activation: relu}}
    - Dense: {{units: 1}}
optimizer: {{name: adam, learning_rate: 0.05}}
loss: mse
metrics: [mae]
training: {{epochs: 2, batch_size: 16, jit_compile: false}}
"""

CNN = """\
name: cnn
seed: 3
data: {{kind: mnist, path: {path}}}
model:
  input_shape: [28, 28]
  layers:
    - Reshape: {{target_shape: [28, 28, 1]}}
    - Conv2D: {{filters: 8, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 2}}
    - Flatten: {{}}
    - Dense: {{units: 10, activation: softmax}}
optimizer: {{name: adam, learning_rate: 0.01}}
loss: categorical_crossentropy
metrics: [accuracy]
training: {{epochs: 2, batch_size: 32, jit_compile: false}}
"""

TEXT = """\
name: words
seed: 3
data:
  kind: csv
  path: {path}
  target: label
  task: binary
  features: [text]
  text:
    text: {{max_tokens: 50, output_mode: int, sequence_length: 8}}
  test: 0.25
model:
  layers:
    - Embedding: {{input_dim: 50, output_dim: 8}}
    - GlobalAveragePooling1D: {{}}
    - Dense: {{units: 1, activation: sigmoid}}
optimizer: {{name: adam, learning_rate: 0.05}}
training: {{epochs: 2, batch_size: 16, jit_compile: false}}
"""


def _write_table(path: Path, n: int = 320) -> Path:
    """``y = 4 * signal + 3 * [color == red] + small noise``; ``noise`` is pure noise."""
    rng = np.random.default_rng(0)
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "blue"], n)
    y = 4 * signal + 3 * (color == "red") + rng.normal(0, 0.1, n)
    lines = ["signal,noise,color,y"] + [
        f"{a:.4f},{b:.4f},{c},{t:.4f}" for a, b, c, t in zip(signal, noise, color, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _write_words(path: Path, n: int = 240) -> Path:
    """Short texts whose label is carried by one word: ``good`` (1) or ``bad`` (0)."""
    rng = np.random.default_rng(1)
    filler = ["the", "film", "was", "a", "plot", "story", "and", "very"]
    lines = ["text,label"]
    for i in range(n):
        label = i % 2
        words = list(rng.choice(filler, 4)) + ["good" if label else "bad"]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _train(folder: Path, template: str, data: Path) -> Path:
    config = folder / f"{data.stem}.yaml"
    config.write_text(template.format(path=data) + _FAST)
    result = run_experiment(config, runs_dir=folder / "runs")
    assert result.status == "completed"
    return result.run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("explain")
    return {
        "table": _train(folder, TABLE, _write_table(folder / "table.csv")),
        "cnn": _train(folder, CNN, write_mnist_npz(folder / "mnist.npz", 256, 64)),
        "text": _train(folder, TEXT, _write_words(folder / "words.csv")),
    }


def _explain(*args: str) -> tuple[dict[str, Any], Path]:
    result = runner.invoke(app, ["explain", *args])
    assert result.exit_code == 0, result.output
    written = Path(result.output.rsplit("written: ", 1)[1].split()[0])
    return json.loads((written / "explain.json").read_text()), written


def test_permutation_ranks_the_informative_column_above_noise(runs: dict[str, Path]) -> None:
    record, folder = _explain(str(runs["table"]), "--repeats", "3", "--seed", "1")
    assert folder == runs["table"] / "explain" / "permutation-test"
    assert record["method"] == "permutation" and record["split"] == "test"
    assert record["seed"] == 1 and record["settings"]["repeats"] == 3
    with (folder / "permutation.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["metric"] == "loss"]
    drops = {r["column"]: float(r["mean_drop"]) for r in rows}
    assert set(drops) == {"signal", "noise", "color"}
    assert drops["signal"] > drops["color"] > drops["noise"]
    assert drops["signal"] > 10 * abs(drops["noise"])
    assert (folder / "permutation.png").stat().st_size > 0
    assert sorted(record["files"]) == ["explain.json", "permutation.csv", "permutation.png"]


def test_permutation_on_an_exported_model_agrees_with_keras(runs: dict[str, Path]) -> None:
    exported = runner.invoke(
        app, ["export", str(runs["table"]), "-f", "tflite", "--no-verify", "--no-latency"]
    )
    assert exported.exit_code == 0, exported.output
    artifact = runs["table"] / "export" / "best.tflite"
    keras_record, _ = _explain(str(runs["table"]), "--repeats", "2")
    record, folder = _explain(str(artifact), "--repeats", "2")
    assert folder == runs["table"] / "explain" / "permutation-test-best.tflite"
    assert record["checkpoint"] == "export/best.tflite" and record["settings"]["format"] == "tflite"
    ours, theirs = record["settings"]["baseline"], keras_record["settings"]["baseline"]
    assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-3)
    assert [r["name"] for r in record["summary"]] == [r["name"] for r in keras_record["summary"]]
    refused = runner.invoke(app, ["explain", str(artifact), "-m", "integrated_gradients"])
    assert refused.exit_code == 2 and "Methods that apply: permutation" in refused.output


def test_ig_on_an_mlp_is_complete_and_depends_on_the_weights(runs: dict[str, Path]) -> None:
    record, folder = _explain(str(runs["table"]), "--method", "integrated_gradients", "-n", "40")
    completeness = record["checks"]["completeness"]
    assert completeness["passed"] and completeness["median_relative"] <= 0.05
    assert completeness["steps"] == 128
    assert "randomization" in record["checks"]
    with (folder / "integrated_gradients.csv").open() as handle:
        ranked = [r["column"] for r in csv.DictReader(handle)]
    assert ranked[0] == "signal" and set(ranked) == {"signal", "noise"}


def test_image_methods_write_maps_grids_and_checks(runs: dict[str, Path]) -> None:
    record, folder = _explain(str(runs["cnn"]), "-n", "20")
    assert record["method"] == "gradcam"  # the default where a convolution exists
    maps = np.load(folder / "attributions.npy")
    assert maps.shape == (20, 28, 28) and maps.min() >= 0.0 and maps.max() <= 1.0
    assert {"classes.png", "examples.csv"} <= set(record["files"])
    assert record["checks"]["randomization"]["threshold"] == 0.5

    record, folder = _explain(str(runs["cnn"]), "-m", "integrated_gradients", "-n", "12")
    completeness = record["checks"]["completeness"]
    assert completeness["passed"], completeness
    assert record["checks"]["randomization"]["passed"], record["checks"]["randomization"]
    assert np.load(folder / "attributions.npy").shape == (12, 28, 28)


def test_a_second_explain_replaces_its_own_folder(runs: dict[str, Path]) -> None:
    _, first = _explain(str(runs["cnn"]), "-m", "saliency", "-n", "6")
    (first / "stale.txt").write_text("left by hand")
    record, second = _explain(str(runs["cnn"]), "-m", "saliency", "-n", "8")
    assert first == second and not (second / "stale.txt").exists()
    assert record["examples"] == 8
    assert not [p for p in second.parent.iterdir() if p.name.startswith(".")]


def test_text_rows_get_per_token_attributions(runs: dict[str, Path]) -> None:
    record, folder = _explain(str(runs["text"]), "-m", "tokens", "-n", "10")
    assert record["checks"]["completeness"]["passed"]
    with (folder / "tokens.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {int(r["row"]) for r in rows} and len({r["row"] for r in rows}) == 10
    assert all(r["token"] for r in rows)
    page = (folder / "tokens.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    words = {r["token"] for r in rows}
    assert words & {"good", "bad"}


def test_the_check_fails_where_shuffling_changes_nothing(runs: dict[str, Path]) -> None:
    # A layer whose kernel is one repeated value: its weights shuffled are the same weights,
    # so its attributions cannot differ, and the check must say so.
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="ones")(inputs))
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    shuffle_weights(copy, seed=0)
    x = {"x": np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)}
    units = np.zeros(30, dtype=np.int64)
    baseline = np.zeros(4, dtype=np.float32)
    trained, *_ = integrated_gradients(model_forward(model, "x", x, units), x["x"], baseline)
    shuffled, *_ = integrated_gradients(model_forward(copy, "x", x, units), x["x"], baseline)
    check = randomization_check(trained, shuffled)
    assert not check.passed and check.spearman > 0.99


@pytest.mark.parametrize("units", [1, 4])
def test_a_model_trained_on_logits_shows_probabilities(units: int) -> None:
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(units)(inputs))
    x = {"x": np.random.default_rng(1).normal(scale=4.0, size=(20, 3)).astype(np.float32)}
    logits = np.asarray(model(x["x"]))
    if units == 1:
        loss: Any = keras.losses.BinaryCrossentropy(from_logits=True)
        expected = 1 / (1 + np.exp(-logits))
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    model.compile(loss=loss)
    shown = predict_first(model, x, batch=8)
    np.testing.assert_allclose(shown, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(explained_units(shown), explained_units(logits))
    model.compile(loss="mse")  # not logits: the outputs as they are
    np.testing.assert_allclose(predict_first(model, x, batch=8), logits, rtol=1e-6)


@pytest.mark.parametrize(
    ("run", "method", "words"),
    [
        ("cnn", "permutation", "it needs a CSV run"),
        ("table", "gradcam", "it needs an image input"),
        ("table", "tokens", "no int-mode text column"),
        ("text", "integrated_gradients", "no numeric input"),
    ],
)
def test_a_method_that_does_not_apply_is_refused(
    runs: dict[str, Path], run: str, method: str, words: str
) -> None:
    result = runner.invoke(app, ["explain", str(runs[run]), "--method", method])
    assert result.exit_code == 2
    assert f"--method {method} does not apply" in result.output and words in result.output
    assert "Methods that apply:" in result.output and "Traceback" not in result.output


def test_gradcam_without_a_convolution_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    run = shutil.copytree(runs["cnn"], tmp_path / "mlp")
    inputs = keras.Input((28, 28))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(flat))
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    model.save(run / "checkpoints" / "best.keras")
    result = runner.invoke(app, ["explain", str(run), "--method", "gradcam"])
    assert result.exit_code == 2
    assert "a convolution layer" in result.output
    assert "integrated_gradients, saliency" in result.output.split("apply:")[1]
    assert "gradcam" not in result.output.split("apply:")[1]
