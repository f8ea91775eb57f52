"""dltrain benchmark on a tiny run: every cell present, consistent with export.json, reused."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from datagen import tiny_mlp, write_mnist_npz
from probes import EXPORT_NOISE
from rich.console import Console
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment
from dltrain.export.bench_table import COLUMNS
from dltrain.export.benchmark import benchmark_run

runner = CliRunner()

pytestmark = [pytest.mark.slow, *EXPORT_NOISE]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    npz = write_mnist_npz(folder / "m.npz", n_train=300, n_test=64)
    config = folder / "c.yaml"
    # Learned well enough (3 epochs) that an int8 model calibrated on nothing collapses.
    mlp = tiny_mlp(name="bench", units=16, epochs=3, learning_rate=0.003)
    config.write_text(mlp.format(path=npz))
    result = run_experiment(config, runs_dir=folder / "runs")
    assert result.status == "completed"
    return result.run_dir


@pytest.fixture(scope="module")
def first(run_dir: Path) -> tuple[str, int]:
    from dltrain.cli.render.benchmark import render_benchmark

    # What `dltrain benchmark RUN` does, with shorter timings (0.05 s instead of 0.5 s each).
    console = Console(file=io.StringIO(), width=200)
    render_benchmark(console, benchmark_run(run_dir, latency_budget_s=0.05))
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue(), 0


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
    bench = benchmark_run(run_dir, formats=["tflite"], quantize=["int8"], latency_budget_s=0.05)
    assert [(r.format, r.reused) for r in bench.rows] == [("keras", False), ("tflite", True)]
    assert artifact.stat().st_mtime_ns == stamp
    bench = benchmark_run(
        run_dir, formats=["tflite"], quantize=["int8"], force=True, latency_budget_s=0.05
    )
    assert not bench.rows[1].reused and artifact.stat().st_mtime_ns != stamp


def test_bad_choices_are_usage_errors(run_dir: Path, first: tuple[str, int]) -> None:
    result = runner.invoke(app, ["benchmark", str(run_dir), "--formats", "coreml"])
    assert result.exit_code == 2 and "unknown format 'coreml'" in result.output
    result = runner.invoke(app, ["benchmark", str(run_dir), "--split", "validation"])
    assert result.exit_code == 2 and "--split" in result.output


def test_calibration_choices_are_recorded_and_a_collapse_is_reported(
    run_dir: Path, tmp_path: Path
) -> None:
    import numpy as np

    out = tmp_path / "c.tflite"
    args = ["export", str(run_dir), "-f", "tflite", "--quantize", "int8", "--no-latency"]
    result = runner.invoke(app, [*args, "--calibration", "20", "-o", str(out)])
    assert result.exit_code in (0, 1), result.output
    record = json.loads(out.with_name("c.tflite.export.json").read_text())
    assert record["calibration"] == {
        "source": "sample", "examples": 20, "split": "train", "seed": 3, "asked": 20
    }
    zeros = tmp_path / "zeros.npz"
    np.savez(zeros, image=np.zeros((8, 28, 28), np.float32))  # no activation range at all
    result = runner.invoke(app, [*args, "--calibration", str(zeros), "-o", str(out)])
    assert result.exit_code == 1 and "int8 collapsed" in result.output
    record = json.loads(out.with_name("c.tflite.export.json").read_text())
    assert record["verification"]["collapsed"] is True
    assert record["calibration"] == {"source": "file", "examples": 8, "file": str(zeros)}
    np.savez(zeros, pixels=np.zeros((8, 28, 28), np.float32))
    result = runner.invoke(app, [*args, "--calibration", str(zeros), "-o", str(out)])
    assert result.exit_code == 2 and "no array 'image'" in result.output
