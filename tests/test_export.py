"""`dltrain export` end to end: each format exported, verified, and run through `predict`.

Three tiny runs (an image MLP, a small CNN, a CSV regression with a text column) are trained
once per module and shared; every export goes to its own path.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from datagen import MLP, REGRESSION, write_mnist_npz, write_regression_csv
from probes import EXPORT_NOISE
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment

runner = CliRunner()

pytestmark = [pytest.mark.slow, *EXPORT_NOISE]

CNN = """\
name: tiny_cnn
data: {{kind: mnist, path: {path}, channel_axis: true}}
model:
  input_shape: [28, 28, 1]
  layers:
    # Augmentation runs only in training; an export that left it on would flip requests.
    - RandomFlip: {{mode: horizontal}}
    - Conv2D: {{filters: 4, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 2}}
    - Flatten: {{}}
    - Dense: {{units: 10, activation: softmax}}
optimizer: {{name: adam, learning_rate: 0.003}}
loss: categorical_crossentropy
metrics: [accuracy]
training: {{epochs: 2, batch_size: 32, jit_compile: false}}
"""


MULTI = """\
name: tiny_multi
data:
  kind: csv
  train_path: {train}
  test_path: {test}
  target: [y, x2]
  features: [x1]
  validation: 0.2
  task: {{y: regression, x2: regression}}
model:
  type: functional
  inputs: {{features: {{}}}}
  layers:
    - {{name: h1, Dense: {{units: 8, activation: relu}}, inputs: features}}
    - {{name: out_y, Dense: {{units: 1}}, inputs: h1}}
    - {{name: out_x2, Dense: {{units: 1}}, inputs: h1}}
  outputs: [out_y, out_x2]
optimizer: {{name: adam, learning_rate: 0.01}}
training: {{epochs: 1, batch_size: 16, jit_compile: false}}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Run folder and a prediction input file, per model: mlp, cnn, reg, multi (2 outputs)."""
    root = tmp_path_factory.mktemp("export")
    npz = write_mnist_npz(root / "mnist.npz")
    train = write_regression_csv(root / "train.csv", n=200, seed=0)
    test = write_regression_csv(root / "test.csv", n=60, seed=1)
    configs = {
        # A third epoch makes the MLP sure enough of its classes for int8 to keep them.
        "mlp": (MLP.format(path=npz).replace("epochs: 2", "epochs: 3"), npz),
        "cnn": (CNN.format(path=npz), npz),
        "reg": (REGRESSION.format(train=train, test=test), test),
        "multi": (MULTI.format(train=train, test=test), test),
    }
    out = {}
    for key, (text, data) in configs.items():
        config = root / f"{key}.yaml"
        config.write_text(text)
        # No plots: nothing here reads them (exports and predictions use the checkpoints).
        result = run_experiment(config, ["output.plots=false"], runs_dir=root / "runs")
        assert result.status == "completed", result.message
        out[key] = (result.run_dir, data)
    return out


def _export(run: Path, *args: str, latency: bool = False) -> tuple[int, str]:
    """``dltrain export``; latency only when asked (timing takes about 2 s per export)."""
    flags = [] if latency else ["--no-latency"]
    result = runner.invoke(app, ["export", str(run), *args, *flags])
    return result.exit_code, result.output


def _record(artifact: Path) -> dict:
    return json.loads(artifact.with_name(artifact.name + ".export.json").read_text())


def _predictions(target: Path, data: Path) -> list[list[str]]:
    result = runner.invoke(app, ["predict", str(target), str(data)])
    assert result.exit_code == 0, result.output
    return list(csv.reader(result.stdout.splitlines()))  # notes go to stderr


EXPORTS = [
    ("mlp", "saved_model", "best.saved_model"),
    ("mlp", "tflite", "best.tflite"),
    ("mlp", "onnx", "best.onnx"),
    ("cnn", "saved_model", "best.saved_model"),
    ("cnn", "tflite", "best.tflite"),
    ("cnn", "onnx", "best.onnx"),
    ("reg", "saved_model", "best.saved_model"),
    ("reg", "tflite", "best.tflite"),
    ("multi", "onnx", "best.onnx"),
    ("multi", "tflite", "best.tflite"),
]


@pytest.mark.parametrize(("model", "fmt", "name"), EXPORTS)
def test_export_verifies_and_predicts_like_the_run(
    runs: dict[str, tuple[Path, Path]], model: str, fmt: str, name: str
) -> None:
    run, data = runs[model]
    # One export is timed, and the timing shown and recorded; the others skip it.
    timed = (model, fmt) == ("mlp", "tflite")
    code, output = _export(run, "--format", fmt, latency=timed)
    assert code == 0, output
    assert "verified" in output and "unverified" not in output
    artifact = run / "export" / name
    assert artifact.exists()
    record = _record(artifact)
    assert record["format"] == fmt and record["quantize"] == "none"
    check = record["verification"]
    assert check["status"] == "verified" and check["failures"] == []
    assert check["max_abs_diff"] <= 1e-4
    images = model in ("mlp", "cnn")
    assert check["examples"] == (64 if images else 60)
    assert set(check["metrics"]["keras"]) == set(check["metrics"]["export"])
    if timed:
        for runtime in ("export", "keras"):
            assert set(check["latency_ms_per_example"][runtime]) == {"batch_1", "batch_256"}
            assert all(v > 0 for v in check["latency_ms_per_example"][runtime].values())
        assert "ms/example, batch 1" in output and "ms/example, batch 256" in output
        assert "not measured" not in output
    else:
        assert check["latency_ms_per_example"] is None
        assert "latency not measured (--no-latency)" in output and "ms/example" not in output
    assert record["size_bytes"] > 0 and record["keras_size_bytes"] > 0
    raw = [i for i in record["inputs"]]
    if model == "multi":
        assert raw == [{"name": "features", "shape": [None, 1], "dtype": "float32"}]
        assert [o["name"] for o in record["outputs"]] == ["output_0", "output_1"]
        assert set(check["metrics"]["export"]) == {"y_mae", "y_rmse", "x2_mae", "x2_rmse"}
    elif model == "reg":
        assert {i["name"]: i["dtype"] for i in raw} == {"features": "float32", "color": "string"}
    else:
        # Raw pixels in: the scaling is inside the exported model.
        shape = [None, 28, 28] if model == "mlp" else [None, 28, 28, 1]
        assert raw == [{"name": "image", "shape": shape, "dtype": "float32"}]
    if fmt == "onnx":
        assert record["opset"] >= 13
    # The artifact answers `predict` with the run's own columns and the same predictions.
    from_run = _predictions(run, data)
    from_artifact = _predictions(artifact, data)
    assert from_artifact[0] == from_run[0]
    assert len(from_artifact) == len(from_run) > 1
    for mine, theirs in zip(from_artifact[1:], from_run[1:], strict=True):
        if not images:
            assert [float(v) for v in mine[1:]] == pytest.approx(
                [float(v) for v in theirs[1:]], rel=1e-4, abs=1e-4
            )
        else:
            assert mine[1] == theirs[1]
            assert [float(v) for v in mine[2:]] == pytest.approx(
                [float(v) for v in theirs[2:]], abs=1e-5
            )


def test_saved_model_has_a_serve_signature(runs: dict[str, tuple[Path, Path]]) -> None:
    import numpy as np
    import tensorflow as tf

    run, _ = runs["mlp"]
    out = run / "export" / "serve.saved_model"
    for _ in range(2):  # the second export replaces the first folder whole
        code, output = _export(run, "--format", "saved_model", "-o", str(out), "--no-verify")
        assert code == 0, output
    assert _record(out)["verification"] == {"status": "skipped"}
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".serve.")]
    loaded = tf.saved_model.load(str(out))
    pixels = np.full((2, 28, 28), 255.0, np.float32)
    assert loaded.serve(pixels).shape == (2, 10)
    assert "serving_default" in loaded.signatures


@pytest.mark.parametrize("quantize", ["int8", "dynamic", "float16"])
def test_quantized_tflite_within_tolerance(
    runs: dict[str, tuple[Path, Path]], quantize: str
) -> None:
    run, data = runs["mlp"]
    code, output = _export(run, "--format", "tflite", "--quantize", quantize)
    assert code == 0, output
    artifact = run / "export" / f"best-{quantize}.tflite"
    record = _record(artifact)
    metrics = record["verification"]["metrics"]
    assert record["verification"]["status"] == "verified"
    assert metrics["export"]["accuracy"] >= metrics["keras"]["accuracy"] - 0.01
    if quantize == "int8":
        # 8-bit weights: a quarter of float32 weights, and the .keras file also holds the
        # optimizer's two moments per weight.
        assert record["size_bytes"] < 0.2 * record["keras_size_bytes"]
    rows = _predictions(artifact, data)
    assert len(rows) == 65


def test_int8_with_a_text_column(runs: dict[str, tuple[Path, Path]]) -> None:
    run, _ = runs["reg"]
    code, output = _export(run, "--format", "tflite", "--quantize", "int8")
    assert code in (0, 1), output
    record = _record(run / "export" / "best-int8.tflite")
    assert {i["name"] for i in record["inputs"]} == {"features", "color"}
    assert record["verification"]["status"] == ("verified" if code == 0 else "unverified")
    assert "mae" in record["verification"]["metrics"]["export"]


def test_unverified_export_is_kept_and_exits_1(
    runs: dict[str, tuple[Path, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dltrain.export.verify.FLOAT_TOLERANCE", -1.0)
    run, _ = runs["cnn"]
    out = tmp_path / "strict.onnx"
    code, output = _export(run, "--format", "onnx", "-o", str(out))
    assert code == 1, output
    assert "unverified: outputs differ from the Keras model" in output
    assert out.is_file()
    assert _record(out)["verification"]["status"] == "unverified"


@pytest.mark.parametrize(
    ("model", "args", "message"),
    [
        (
            "mlp",
            ["--format", "saved_model", "--quantize", "int8"],
            "--format saved_model does not support --quantize int8",
        ),
        (
            "mlp",
            ["--format", "onnx", "--quantize", "dynamic"],
            "use --format tflite --quantize dynamic",
        ),
        (
            "mlp",
            ["--format", "coreml"],
            "--format must be one of saved_model, tflite, onnx; received 'coreml'",
        ),
        ("mlp", ["--format", "tflite", "--quantize", "int4"], "--quantize must be one of"),
        (
            "mlp",
            ["--format", "tflite", "--checkpoint", "worst"],
            "--checkpoint must be 'best' or 'last'",
        ),
        ("reg", ["--format", "onnx"], "--format onnx cannot carry the text input 'color'"),
    ],
)
def test_unsupported_combinations_exit_2_and_write_nothing(
    runs: dict[str, tuple[Path, Path]], tmp_path: Path, model: str, args: list[str], message: str
) -> None:
    run, _ = runs[model]
    out = tmp_path / "out"
    code, output = _export(run, *args, "-o", str(out / "model.onnx"))
    assert code == 2, output
    assert message in output and "Traceback" not in output
    assert not out.exists()


def test_text_input_error_says_what_to_use_instead(runs: dict[str, tuple[Path, Path]]) -> None:
    run, _ = runs["reg"]
    code, output = _export(run, "--format", "onnx")
    assert code == 2
    assert "use --format saved_model or --format tflite" in output
    assert not (run / "export" / "best.onnx").exists()


def test_bad_output_paths(runs: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    run, _ = runs["mlp"]
    code, output = _export(run, "--format", "tflite", "-o", str(tmp_path / "model.bin"))
    assert code == 2 and "must end with .tflite" in output
    taken = tmp_path / "taken.onnx"
    taken.write_text("someone else's file")
    code, output = _export(run, "--format", "onnx", "-o", str(taken))
    assert code == 2 and "already exists and is not a dltrain export" in output
    assert taken.read_text() == "someone else's file"


def test_a_read_only_output_is_refused_before_converting(
    runs: dict[str, tuple[Path, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault probe L1: a read-only place or a missing folder in it was an internal error, or
    'the converter refused the model' with the wrong advice."""
    ro = tmp_path / "ro"
    ro.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1M,ro", "tmpfs", str(ro)]
    mounted = shutil.which("mount") is not None and (
        subprocess.run(mount, capture_output=True).returncode == 0
    )
    if not mounted:  # no privilege to mount: os.access answers as on a read-only mount
        real_access = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode)
        )
    try:
        run, _ = runs["reg"]
        for fmt, name in (
            ("saved_model", "sm"),
            ("tflite", "sub/m.tflite"),
            ("tflite", "m.tflite"),
        ):
            code, output = _export(run, "--format", fmt, "-o", str(ro / name))
            assert code == 2, output
            assert "cannot write there" in output and "converter" not in output, output
            assert "internal error" not in output and "Traceback" not in output
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)], check=True)


def test_failed_conversion_leaves_nothing(
    runs: dict[str, tuple[Path, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dltrain.errors import ExportError

    def half_written(source: object, path: Path, fmt: str, quantize: str) -> None:
        path.write_bytes(b"half a model")
        raise ExportError("the converter gave up")

    monkeypatch.setattr("dltrain.export.exporter._write", half_written)
    run, _ = runs["mlp"]
    code, output = _export(run, "--format", "tflite", "-o", str(tmp_path / "m.tflite"))
    assert code == 2 and "the converter gave up" in output
    assert list(tmp_path.iterdir()) == []


def test_missing_packages_name_the_extra(
    runs: dict[str, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dltrain.export.options._installed", lambda module: False)
    run, _ = runs["mlp"]
    code, output = _export(run, "--format", "onnx")
    assert code == 2
    assert "tf2onnx" in output and "pip install 'dltrain[export]'" in output


def test_missing_or_corrupt_run_exits_2(runs: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    code, output = _export(tmp_path / "nowhere", "--format", "onnx")
    assert code == 2 and "nowhere" in output and "Traceback" not in output
    run, _ = runs["mlp"]
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    for name in ("run.json", "config.yaml", "data_spec.json"):
        (broken / name).write_bytes((run / name).read_bytes())
    (broken / "checkpoints" / "best.keras").write_bytes(b"not a zip file")
    code, output = _export(broken, "--format", "tflite")
    assert code == 2 and "best.keras" in output and "Traceback" not in output
    assert not (broken / "export" / "best.tflite").exists()
    # An exported artifact is not a run.
    artifact = tmp_path / "a.saved_model"
    assert _export(run, "--format", "saved_model", "-o", str(artifact), "--no-verify")[0] == 0
    code, output = _export(artifact, "--format", "tflite")
    assert code == 2 and "already an exported model" in output


def test_onnx_export_keeps_tensorflow_notices_off_the_terminal(
    runs: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """Newcomer report 9: tf2onnx's TensorFlow deprecation notices ("WARNING:tensorflow:From
    ...", "Instructions for updating: ...") were printed by ``dltrain export --format onnx``.
    A fresh process, as a user's: TensorFlow configures its logger once, at import."""
    run, _ = runs["mlp"]
    out = tmp_path / "quiet.onnx"
    command = [sys.executable, "-m", "dltrain", "export", str(run), "--format", "onnx"]
    done = subprocess.run(
        [*command, "-o", str(out), "--no-verify", "--no-latency"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    assert "Instructions for updating" not in done.stderr, done.stderr
    assert "WARNING:tensorflow" not in done.stderr, done.stderr


def test_a_run_that_did_not_complete_is_exported_with_its_status_said(
    runs: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """Fault probes 2, cosmetic: an `interrupted` run was exported without a word about it."""
    run = shutil.copytree(runs["mlp"][0], tmp_path / "interrupted")
    manifest = json.loads((run / "run.json").read_text())
    manifest.update(status="interrupted", epochs_completed=1)
    (run / "run.json").write_text(json.dumps(manifest))
    code, output = _export(run, "--format", "tflite", "--no-verify")
    assert code == 0, output
    assert "note: the run is interrupted (1 epoch completed): best.keras is exported" in output
    assert (run / "export" / "best.tflite").is_file()


def test_predict_on_an_artifact_without_its_record(
    runs: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    run, data = runs["cnn"]
    exported = tmp_path / "exported" / "m.onnx"
    code, output = _export(run, "--format", "onnx", "-o", str(exported), "--no-verify")
    assert code == 0, output
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(exported.read_bytes())
    result = runner.invoke(app, ["predict", str(lone), str(data)])
    assert result.exit_code == 2
    assert "no lone.onnx.export.json beside it" in result.output
    # With its record but a damaged file: the runtime's complaint, exit 2.
    record = exported.with_name("m.onnx.export.json")
    (tmp_path / "lone.onnx.export.json").write_bytes(record.read_bytes())
    lone.write_bytes(b"not an onnx file")
    result = runner.invoke(app, ["predict", str(lone), str(data)])
    assert result.exit_code == 2
    assert "lone.onnx: cannot be loaded as onnx" in result.output
    assert "Traceback" not in result.output
