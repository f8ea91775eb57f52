"""distill's config checks and benchmark's table logic, without TensorFlow."""

from __future__ import annotations

from pathlib import Path

import pytest

from dltrain.config import load_config
from dltrain.config.distill_schema import distill_conflicts
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.engine.distill import spec_mismatches
from dltrain.errors import ConfigError
from dltrain.export.bench_table import BenchRow, csv_rows, recommend, row_from_record

BASE = """\
data: {kind: mnist}
model:
  input_shape: [28, 28]
  layers: [{Flatten: {}}, {Dense: {units: 10, activation: softmax}}]
"""


def _load(tmp_path: Path, extra: str, overrides: tuple[str, ...] = ()) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + extra)
    return load_config(path, list(overrides))


def test_distill_defaults_and_teacher_relative_to_the_config(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "distill: {teacher: runs/t}\n")
    distill = loaded.config.distill  # type: ignore[attr-defined]
    assert (distill.temperature, distill.alpha, distill.features) == (4.0, 0.1, [])
    assert distill.teacher == str((tmp_path / "runs" / "t").resolve())
    loaded = _load(tmp_path, "distill: {teacher: 'runs/t:last'}\n")
    assert loaded.config.distill.teacher.endswith("runs/t:last")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("distill: {teacher: t, alpha: 1.5}\n", "distill.alpha"),
        ("distill: {teacher: t, temperature: 0}\n", "distill.temperature"),
        ("distill: {teacher: t, tempreature: 2}\n", "tempreature"),
        ("distill: {temperature: 2}\n", "distill.teacher"),
        ("distill: {teacher: t, features: [{teacher: a}]}\n", "distill.features[0].student"),
    ],
)
def test_bad_distill_sections_are_located(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, extra)
    text = caught.value.render()
    assert expected in text and "c.yaml:5" in text


def test_distill_conflicts(tmp_path: Path) -> None:
    plain = _load(tmp_path, "distill: {teacher: t}\n")
    assert distill_conflicts(plain.config) == []  # type: ignore[attr-defined]
    loaded = _load(
        tmp_path,
        "distill: {teacher: t}\ndistribute: {strategy: multi_worker_mirrored}\n",
    )
    found = distill_conflicts(loaded.config)  # type: ignore[attr-defined]
    assert [key for key, _ in found] == [("distribute", "strategy")]


def _spec(shape: tuple[int, ...], classes: int = 10, kind: str = "mnist") -> DataSpec:
    image = InputInfo("image", shape)
    return DataSpec(kind, [image], [image], [TargetInfo("label", "multiclass", classes)])


def test_spec_mismatches_name_both_sides() -> None:
    assert spec_mismatches(_spec((28, 28)), _spec((28, 28))) == []
    lines = spec_mismatches(_spec((28, 28, 1)), _spec((28, 28), classes=3), True, False)
    assert lines[0] == "data.scale: teacher True, student False"
    assert lines[1] == "inputs: teacher image [28, 28, 1] float32; student image [28, 28] float32"
    assert lines[2] == "targets: teacher label: multiclass 10 classes; student label: multiclass 3 classes"
    assert spec_mismatches(_spec((4,), kind="csv"), _spec((4,)))[0].startswith("data kind")


def _record(fmt: str, quant: str, status: str, size: int, acc: float) -> dict[str, object]:
    return {
        "format": fmt,
        "quantize": quant,
        "size_bytes": size,
        "keras_size_bytes": 1000,
        "versions": {"keras": "3.15.1", "ai-edge-litert": "2.3.0", "onnxruntime": "1.2"},
        "verification": {
            "status": status,
            "max_abs_diff": 0.01,
            "failures": [] if status == "verified" else ["accuracy 0.5 vs 0.9: more than 1 point"],
            "metrics": {"keras": {"accuracy": 0.9}, "export": {"accuracy": acc}},
            "latency_ms_per_example": {
                "export": {"batch_1": size / 1000, "batch_256": 0.001},
                "keras": {"batch_1": 1.0, "batch_256": 0.01},
            },
        },
    }


def test_rows_come_from_the_records() -> None:
    record = _record("tflite", "int8", "unverified", 200, 0.5)
    row = row_from_record(record, artifact="best-int8.tflite", reused=True)
    assert (row.status, row.metric, row.value, row.size_bytes) == ("beyond tolerance", "accuracy", 0.5, 200)
    assert row.change == pytest.approx(-0.4) and row.runtime == "ai-edge-litert 2.3.0"
    assert "more than 1 point" in row.why and row.reused
    keras = row_from_record(record, artifact="", reused=True, keras=True)
    assert (keras.format, keras.status, keras.value, keras.size_bytes) == ("keras", "reference", 0.9, 1000)
    assert keras.latency_ms_b1 == 1.0 and not keras.reused and keras.runtime == "keras 3.15.1"
    cells = csv_rows([BenchRow("onnx", "none", "unsupported", why="no onnx")])
    assert cells[0]["size_bytes"] == "" and cells[0]["why"] == "no onnx"


def test_the_recommendation_picks_the_smallest_verified_and_the_fastest() -> None:
    rows = [
        row_from_record(_record("tflite", "none", "verified", 800, 0.9), artifact="a", reused=False, keras=True),
        row_from_record(_record("tflite", "none", "verified", 800, 0.9), artifact="a", reused=False),
        row_from_record(_record("tflite", "int8", "unverified", 100, 0.5), artifact="b", reused=False),
        row_from_record(_record("tflite", "dynamic", "verified", 300, 0.895), artifact="c", reused=False),
        BenchRow("onnx", "none", "unsupported", why="missing"),
    ]
    line = recommend(rows)
    assert line.startswith("recommended: smallest within tolerance: tflite dynamic (300 B")
    assert "accuracy 0.8950, -0.0050" in line
    assert "fastest at batch 1: tflite dynamic (0.3000 ms/example)" in line
    assert recommend(rows[2:3]).startswith("no export is within tolerance")


def test_calibration_choices_parse(tmp_path: Path) -> None:
    from dltrain.errors import UsageError
    from dltrain.export.calibration import Calibration, collapse_hint, parse_calibration

    assert parse_calibration(None) == Calibration("sample", examples=300)
    assert parse_calibration("1000") == Calibration("sample", examples=1000)
    assert parse_calibration("split:validation") == Calibration("split", split="validation")
    npz = tmp_path / "c.npz"
    npz.write_bytes(b"")
    assert parse_calibration(str(npz)) == Calibration("file", path=npz)
    for bad in ("0", "split:test", str(tmp_path / "missing.npz"), "abc"):
        with pytest.raises(UsageError):
            parse_calibration(bad)
    assert Calibration().record(300, 42) == {
        "source": "sample", "examples": 300, "split": "train", "seed": 42, "asked": 300
    }
    assert collapse_hint("accuracy", 0.85, 0.9) is None
    assert "int8 collapsed" in (collapse_hint("accuracy", 0.5, 0.9) or "")
    assert collapse_hint("mae", 9.0, 1.0) is None
