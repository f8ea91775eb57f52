"""Text columns end to end on real review text: every output mode, predict, export, resume.

The reviews are ../shared/data/rotten_tomatoes_corpus_full.csv.bz2 (read compressed, the
`plot` rows excluded, split by movie), the first rows of it so the module stays fast; one
run is trained per module and shared.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from probes import EXPORT_NOISE, killed_after_epoch_one
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import load_config
from dltrain.data import load_datasets
from dltrain.engine.run import RunResult, run_experiment
from dltrain.model import build_model, load_model_file

runner = CliRunner()

pytestmark = [pytest.mark.slow, *EXPORT_NOISE]

REVIEWS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
)

CONFIG = """\
name: reviews
seed: 5
data:
  kind: csv
  path: {path}
  target: category
  task: binary
  features: [text]
  text:
    text: {{max_tokens: 3000, output_mode: {mode}, sequence_length: 40{extra}}}
  exclude: {{category: [plot]}}
  group: movie_name
  limit: 2500
  test: 0.2
  validation: 0.2
model:
  layers:
{layers}
    - Dense: {{units: 1, activation: sigmoid}}
optimizer: {{name: adam, learning_rate: 0.01}}
training: {{epochs: {epochs}, batch_size: 64, jit_compile: false}}
"""

SEQUENCE_LAYERS = """\
    - Embedding: {input_dim: 3000, output_dim: 8}
    - GlobalAveragePooling1D: {}"""


def _config(folder: Path, mode: str = "int", epochs: int = 3, extra: str = "") -> Path:
    if not REVIEWS.is_file():
        pytest.skip(f"{REVIEWS} is absent (the shared data folder beside the checkout)")
    layers = SEQUENCE_LAYERS if mode == "int" else "    - Dropout: {rate: 0.1}"
    text = CONFIG.format(
        path=REVIEWS, mode=mode, extra=extra, layers=layers, epochs=epochs
    )
    path = folder / f"reviews_{mode}.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    folder = tmp_path_factory.mktemp("text")
    config = _config(folder)
    result = run_experiment(config, runs_dir=folder / "runs")
    assert result.status == "completed"
    return config, result


def _train_texts(config: Path) -> tuple[np.ndarray, Any]:
    datasets = load_datasets(load_config(config).config)
    source: Any = datasets.source
    return source.x["train"]["text"], datasets


@pytest.mark.parametrize("mode", ["int", "multi_hot", "count", "tf_idf"])
def test_each_output_mode_is_keras_textvectorization_adapted_on_the_training_split(
    mode: str, tmp_path: Path
) -> None:
    extra = ", ngrams: 2" if mode != "int" else ""
    config = _config(tmp_path, mode, extra=extra)
    texts, datasets = _train_texts(config)
    model = build_model(load_config(config).config, datasets.spec)
    assert model.inputs[0].dtype == "string"
    layer = model.get_layer("text_vectorize")
    # The same layer adapted by Keras itself on the training rows alone.
    reference = keras.layers.TextVectorization(
        max_tokens=3000,
        output_mode=mode,
        ngrams=2 if mode != "int" else None,
        output_sequence_length=40 if mode == "int" else None,
    )
    reference.adapt(texts)
    assert layer.get_vocabulary() == reference.get_vocabulary()
    sample = np.array(["A moving, funny film!", "NA", "", "dull dull dull"])
    ours = keras.ops.convert_to_numpy(layer(sample))
    theirs = keras.ops.convert_to_numpy(reference(sample))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    recorded = datasets.spec.text["text"]
    assert recorded["vocabulary"] == layer.get_vocabulary()
    assert recorded["output_mode"] == mode
    width = 40 if mode == "int" else len(recorded["vocabulary"])
    assert tuple(model.get_layer("text_vectorize").output.shape) == (None, width)


def test_a_text_vector_joins_numeric_and_categorical_columns(tmp_path: Path) -> None:
    rows = [("stars", "genre", "blurb", "label")]
    words = ["great", "awful", "fine", "boring", "superb", "weak"]
    rng = np.random.default_rng(0)
    for i in range(120):
        good = i % 2
        word = words[(i % 3) * 2 + (1 - good)]
        rows.append((str(rng.integers(1, 6)), ["drama", "comedy"][i % 2], f"a {word} story", str(good)))
    data = tmp_path / "mixed.csv"
    with data.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    config = tmp_path / "mixed.yaml"
    config.write_text(
        f"name: mixed\ndata: {{kind: csv, path: {data}, target: label, task: binary, "
        "categorical: [genre], text: {blurb: {output_mode: multi_hot}}}\n"
        "model: {layers: [{Dense: {units: 1, activation: sigmoid}}]}\n"
        "training: {epochs: 1, batch_size: 16, jit_compile: false}\n"
    )
    datasets = load_datasets(load_config(config).config)
    vocabulary = datasets.spec.text["blurb"]["vocabulary"]
    # One numeric column, genre one-hot (2 + out-of-vocabulary), the blurb's words.
    (features,) = datasets.spec.model_inputs
    assert features.shape == (1 + 3 + len(vocabulary),)
    assert {"great", "awful", "story"} <= set(vocabulary)
    model = build_model(load_config(config).config, datasets.spec)
    assert sorted(i.name for i in model.inputs) == ["blurb", "features", "genre"]


def test_run_records_the_vocabulary_summary_and_groups(trained: tuple[Path, RunResult]) -> None:
    _, result = trained
    run = json.loads((result.run_dir / "run.json").read_text())
    data = run["data"]["fingerprint"]
    spec = json.loads((result.run_dir / "data_spec.json").read_text())
    text = spec["text"]["text"]
    assert data["text"]["text"] == {
        "vocabulary_size": len(text["vocabulary"]),
        "vocabulary_sha256": text["vocabulary_sha256"],
    }
    summary = data["summary"]
    (counts,) = summary["files"]
    assert counts["rows"] == 2500 and counts["excluded"] > 0
    assert counts["used"] == sum(s["rows"] for s in summary["splits"].values())
    assert summary["columns"]["text"] == ["text"]
    assert set(summary["splits"]["train"]["classes"]["category"]) == {"fresh", "rotten"}
    assert all(summary["splits"][s]["groups"] > 0 for s in ("train", "validation", "test"))
    model = load_model_file(result.run_dir / "checkpoints" / "best.keras")
    assert model.get_layer("text_vectorize").get_vocabulary() == text["vocabulary"]


def test_check_shows_vocabulary_and_coverage(trained: tuple[Path, RunResult]) -> None:
    config, _ = trained
    result = runner.invoke(app, ["check", str(config)])
    assert result.exit_code == 0, result.output
    assert "2,500 rows read" in result.output and "excluded" in result.output
    assert "text 'text': int sequences of 40, vocabulary 3,000 tokens" in result.output
    assert "training rows" in result.output and "are longer and cut" in result.output


PREDICT_CSV = (
    "text,movie_name\n"
    '"A warm, funny, moving film",x\n'
    '"Two lines:\nthe second one, dull",x\n'
    '"Ça, c\'est très réussi — bravo",x\n'
    "NA,x\n"
    ",x\n"
    '"He said ""boring"" twice",x\n'
)


def test_predict_reads_raw_text_as_written(trained: tuple[Path, RunResult], tmp_path: Path) -> None:
    _, result = trained
    rows = tmp_path / "new.csv"
    rows.write_text(PREDICT_CSV, encoding="utf-8")
    out = tmp_path / "predictions.csv"
    done = runner.invoke(app, ["predict", str(result.run_dir), str(rows), "-o", str(out)])
    assert done.exit_code == 0, done.output
    with out.open() as handle:
        predicted = list(csv.DictReader(handle))
    # Every row is predicted, the empty and "NA" cells as text, in file order (editor rows).
    assert [p["row"] for p in predicted] == ["2", "3", "5", "6", "7", "8"]
    texts = np.array(
        [
            "A warm, funny, moving film",
            "Two lines:\nthe second one, dull",
            "Ça, c'est très réussi — bravo",
            "NA",
            "",
            'He said "boring" twice',
        ]
    )
    model = load_model_file(result.run_dir / "checkpoints" / "best.keras")
    expected = keras.ops.convert_to_numpy(model(texts)).ravel()
    column = next(c for c in predicted[0] if c.endswith("probability"))
    got = np.array([float(p[column]) for p in predicted])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_export_keeps_text_in_saved_model_and_refuses_the_others(
    trained: tuple[Path, RunResult],
) -> None:
    _, result = trained
    done = runner.invoke(app, ["export", str(result.run_dir), "--format", "saved_model"])
    assert done.exit_code == 0, done.output
    assert "verified" in done.output
    for fmt in ("tflite", "onnx"):
        refused = runner.invoke(app, ["export", str(result.run_dir), "--format", fmt])
        assert refused.exit_code == 2, refused.output
        assert "cannot carry the text column 'text'" in refused.output
        assert "--format saved_model" in refused.output


def test_sigkill_then_resume_is_exact_with_the_same_vocabulary(
    trained: tuple[Path, RunResult], tmp_path: Path
) -> None:
    config, reference = trained
    runs = tmp_path / "runs"
    run_dir = killed_after_epoch_one(config, runs, "reviews")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output

    def losses(folder: Path) -> list[tuple[str, str]]:
        with (folder / "metrics.csv").open() as handle:
            return [(r["loss"], r["val_loss"]) for r in csv.DictReader(handle)]

    assert losses(run_dir) == losses(reference.run_dir)
    vocabulary = json.loads((run_dir / "data_spec.json").read_text())["text"]["text"]
    assert vocabulary == json.loads((reference.run_dir / "data_spec.json").read_text())["text"][
        "text"
    ]
    model = load_model_file(run_dir / "checkpoints" / "last.keras")
    assert model.get_layer("text_vectorize").get_vocabulary() == vocabulary["vocabulary"]


def test_predict_and_eval_read_compressed_files(
    trained: tuple[Path, RunResult], tmp_path: Path
) -> None:
    import bz2
    import gzip

    _, result = trained
    with bz2.open(REVIEWS, "rt", encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    # The file starts with 1,097 plot rows; reviews, and a few plot rows, past them.
    kept = [records[0]] + [r for r in records[1050:1400] if r[0] != "plot"]
    rows = len(kept) - 1
    text = io.StringIO()
    csv.writer(text).writerows(kept)
    head = text.getvalue()
    packed = tmp_path / "holdout.csv.gz"
    packed.write_bytes(gzip.compress(head.encode()))
    evaluated = runner.invoke(app, ["eval", str(result.run_dir), "--data", str(packed)])
    assert evaluated.exit_code == 0, evaluated.output
    (record,) = result.run_dir.glob("eval-holdout-*.json")
    assert json.loads(record.read_text())["examples"] == rows
    squeezed = tmp_path / "new.csv.bz2"
    squeezed.write_bytes(bz2.compress(head.encode()))
    out = tmp_path / "predictions.csv"
    done = runner.invoke(app, ["predict", str(result.run_dir), str(squeezed), "-o", str(out)])
    assert done.exit_code == 0, done.output
    with out.open() as handle:
        assert len(list(csv.DictReader(handle))) == rows
