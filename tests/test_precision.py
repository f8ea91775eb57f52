"""``precision`` in training: auto's choice recorded, bfloat16 runs that resume bit for bit,
repeat under ``deterministic: true`` and export float32 at their edges.

An AMX CPU is simulated by giving ``precision: auto`` the device it would see (the choice is
what the unit tests check; here it is what a run does with it). On this CPU bfloat16 is
emulated, so the models are tiny.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import pytest
from datagen import write_mnist_npz
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import precision as precision_module
from dltrain.config.precision import Device, decide_precision
from dltrain.config.schema import ExperimentConfig
from dltrain.engine.run import resume_experiment, run_experiment

pytestmark = pytest.mark.slow

runner = CliRunner()
AMX = Device(frozenset({"avx2", "avx512_bf16", "amx_bf16"}))

CNN = """\
name: {name}
seed: 11
deterministic: true
data: {{kind: mnist, path: {path}, validation: 0.2}}
model:
  input_shape: [28, 28]
  layers:
    - Reshape: {{target_shape: [28, 28, 1]}}
    - Conv2D: {{filters: 4, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 4}}
    - Flatten: {{}}
    - Dense: {{units: 10, activation: softmax}}
optimizer: {{name: adam, learning_rate: 0.003}}
loss: categorical_crossentropy
metrics: [accuracy]
training: {{epochs: {epochs}, batch_size: 32, jit_compile: false}}
output: {{plots: false}}
"""


@pytest.fixture(scope="module")
def npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mnist_npz(tmp_path_factory.mktemp("precision") / "m.npz", 320, 64)


@pytest.fixture(autouse=True)
def _float32_after(monkeypatch: pytest.MonkeyPatch) -> object:
    yield
    keras.mixed_precision.set_global_policy("float32")


def _config(folder: Path, npz: Path, epochs: int, name: str = "cnn") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(CNN.format(name=name, path=npz, epochs=epochs))
    return path


def _losses(run_dir: Path) -> list[tuple[str, ...]]:
    with (run_dir / "metrics.csv").open() as handle:
        return [(r["epoch"], r["loss"], r["val_loss"]) for r in csv.DictReader(handle)]


def _on_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "detect_device", lambda: AMX)


def test_auto_records_its_choice_here_and_on_an_amx_cpu(
    npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = run_experiment(_config(tmp_path, npz, 1), runs_dir=tmp_path / "here")
    record = json.loads((here.run_dir / "run.json").read_text())["precision"]
    conv = {"Conv2D": {"filters": 1, "kernel_size": 1}}
    cfg = ExperimentConfig.model_validate({"data": {"kind": "mnist"}, "model": {"layers": [conv]}})
    expected = decide_precision(cfg)  # this machine
    assert record["setting"] == "auto" and record["policy"] == expected.policy
    _on_amx(monkeypatch)
    amx = run_experiment(_config(tmp_path, npz, 1), runs_dir=tmp_path / "amx")
    record = json.loads((amx.run_dir / "run.json").read_text())["precision"]
    assert record["policy"] == "mixed_bfloat16" and "amx_bf16" in record["reason"]
    model = keras.saving.load_model(amx.run_dir / "checkpoints" / "best.keras")
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == "float32"
    assert model.outputs[0].dtype == "float32"  # the loss is computed in float32


def test_a_bfloat16_run_resumes_bit_for_bit_and_keeps_its_policy(
    npz: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _on_amx(monkeypatch)
    whole = run_experiment(_config(tmp_path, npz, 2), runs_dir=tmp_path / "whole")
    first = run_experiment(_config(tmp_path, npz, 1), runs_dir=tmp_path / "parts")
    # Resumed where auto would now choose float32: the run's recorded policy is kept.
    monkeypatch.setattr(precision_module, "detect_device", lambda: Device(frozenset({"avx2"})))
    resumed = resume_experiment(first.run_dir, ["training.epochs=2"])
    assert resumed.status == "completed", resumed.message
    assert _losses(first.run_dir) == _losses(whole.run_dir)  # both epochs, bit for bit
    record = json.loads((first.run_dir / "run.json").read_text())["precision"]
    assert record["policy"] == "mixed_bfloat16"


def test_deterministic_bfloat16_runs_repeat_exactly(npz: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, npz, 1)
    runs = [
        run_experiment(config, ["precision=mixed_bfloat16"], runs_dir=tmp_path / str(i))
        for i in range(2)
    ]
    assert _losses(runs[0].run_dir) == _losses(runs[1].run_dir)
    record = json.loads((runs[0].run_dir / "run.json").read_text())["precision"]
    assert record == {
        "setting": "mixed_bfloat16",
        "policy": "mixed_bfloat16",
        "reason": "precision: mixed_bfloat16",
    }


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_a_bfloat16_model_exports_float32_at_its_edges_and_verifies(
    npz: Path, tmp_path: Path, fmt: str
) -> None:
    run = run_experiment(
        _config(tmp_path, npz, 1), ["precision=mixed_bfloat16"], runs_dir=tmp_path / "r"
    )
    result = runner.invoke(app, ["export", str(run.run_dir), "--format", fmt, "--no-latency"])
    assert result.exit_code == 0, result.output
    artifact = next((run.run_dir / "export").glob(f"*.{fmt}"))
    record = json.loads(artifact.with_name(artifact.name + ".export.json").read_text())
    check = record["verification"]
    assert check["status"] == "verified" and check["failures"] == [], check
    assert [i["dtype"] for i in record["inputs"]] == ["float32"]
    assert all(o.get("dtype", "float32") == "float32" for o in record["outputs"])
    # Exported computing in float32 with the checkpoint's weights, and said so.
    assert record["precision"] == {"checkpoint": "mixed_bfloat16", "export": "float32"}
    assert "the export computes in float32 with the same weights" in result.output
    trained = json.loads((run.run_dir / "run.json").read_text())["final_metrics"]["test"]
    exported = check["metrics"]["export"]["accuracy"]
    assert abs(exported - trained["accuracy"]) <= 0.02, (exported, trained)


def test_unmeasured_layers_and_backbones_are_told_apart() -> None:
    def choice(layers: list[object]) -> str:
        cfg = ExperimentConfig.model_validate(
            {"data": {"kind": "image_folder", "path": "x"}, "model": {"layers": layers}}
        )
        return decide_precision(cfg, AMX).reason

    backbone = choice([{"MobileNetV2": {"weights": None}}, {"Dense": {"units": 2}}])
    assert "convolutional (MobileNetV2)" in backbone
    mha = {"MultiHeadAttention": {"num_heads": 1, "key_dim": 2}}
    attention = choice([{"Conv1D": {"filters": 2, "kernel_size": 1}}, mha])
    assert "not measured for the MultiHeadAttention layers" in attention
