"""dltrain benchmark on a tiny run: every cell present, consistent with export.json, reused."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from datagen import tiny_mlp, write_mnist_npz
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment
from dltrain.export.bench_table import COLUMNS
from dltrain.export.benchmark import benchmark_run

runner = CliRunner()

pytestmark = [
    pytest.mark.slow,
    # tf2onnx and TensorFlow's converter use deprecated NumPy/TF names; the noise is theirs.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:tf2onnx.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:tf2onnx.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:tensorflow.*"),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    npz = write_mnist_npz(folder / "m.npz", n_train=200, n_test=64)
    config = folder / "c.yaml"
    config.write_text(tiny_mlp(name="bench", units=8, epochs=1).format(path=npz))
    result = run_experiment(config, runs_dir=folder / "runs")
    assert result.status == "completed"
    return result.run_dir


@pytest.fixture(scope="module")
def first(run_dir: Path) -> tuple[str, int]:
    result = runner.invoke(app, ["benchmark", str(run_dir)])
    return result.output, result.exit_code


def test_every_cell_is_present_and_agrees_with_export_json(
    run_dir: Path, first: tuple[str, int]
) -> None:
    output, code = first
    assert code == 0, output
    data = json.loads((run_dir / "export" / "benchmark.json").read_text())
    cells = [(r["format"], r["quantization"]) for r in data["rows"]]
    assert cells == [
        ("keras", "none"),
        ("saved_model", "none"),
        ("tflite", "none"),
        ("tflite", "dynamic"),
        ("tflite", "float16"),
        ("tflite", "int8"),
        ("onnx", "none"),
    ]
    with (run_dir / "export" / "benchmark.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == COLUMNS and len(table) == len(cells)
    keras = data["rows"][0]
    assert keras["status"] == "reference" and keras["metric"] == "accuracy"
    for row in data["rows"][1:]:
        assert row["status"] in ("verified", "beyond tolerance"), row
        record = json.loads((run_dir / "export" / f"{row['artifact']}.export.json").read_text())
        check = record["verification"]
        assert row["size_bytes"] == record["size_bytes"]
        assert row["value"] == check["metrics"]["export"]["accuracy"]
        assert row["change"] == pytest.approx(row["value"] - keras["value"])
        assert row["max_abs_diff"] == check["max_abs_diff"]
        assert row["latency_ms_b1"] == check["latency_ms_per_example"]["export"]["batch_1"]
        assert row["latency_ms_b256"] > 0
        assert row["runtime"].split()[0] in ("tensorflow", "ai-edge-litert", "onnxruntime")
        assert (row["status"] == "verified") == (check["status"] == "verified")
        assert record["source"]["checkpoint_sha256"] == data["checkpoint_sha256"]
    assert "recommended: smallest within tolerance:" in output
    assert data["recommendation"] in " ".join(output.split())


def test_verified_artifacts_are_reused_and_force_rebuilds(
    run_dir: Path, first: tuple[str, int]
) -> None:
    artifact = run_dir / "export" / "best-int8.tflite"
    stamp = artifact.stat().st_mtime_ns
    bench = benchmark_run(run_dir, formats=["tflite"], quantize=["int8"])
    assert [(r.format, r.reused) for r in bench.rows] == [("keras", False), ("tflite", True)]
    assert artifact.stat().st_mtime_ns == stamp
    bench = benchmark_run(run_dir, formats=["tflite"], quantize=["int8"], force=True)
    assert not bench.rows[1].reused and artifact.stat().st_mtime_ns != stamp


def test_bad_choices_are_usage_errors(run_dir: Path, first: tuple[str, int]) -> None:
    result = runner.invoke(app, ["benchmark", str(run_dir), "--formats", "coreml"])
    assert result.exit_code == 2 and "unknown format 'coreml'" in result.output
    result = runner.invoke(app, ["benchmark", str(run_dir), "--split", "validation"])
    assert result.exit_code == 2 and "--split" in result.output
