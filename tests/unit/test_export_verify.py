"""Export without TensorFlow: the format table, option checks, tolerances, metrics, latency."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from dltrain.cli.render.export import render_export
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import ExportError, UsageError
from dltrain.export.formats import FORMATS, QUANTIZATIONS, artifact_format
from dltrain.export.options import (
    artifact_path,
    check_options,
    check_output,
    check_supported,
    sidecar_path,
)
from dltrain.export.record import ExportResult, export_record
from dltrain.export.verify import measure_latency, score_outputs, verify_outputs

CLASSES = [TargetInfo("label", "multiclass", num_classes=3)]
VALUE = [TargetInfo("y", "regression")]


def _probs(indices: list[int]) -> np.ndarray:
    out = np.full((len(indices), 3), 0.1, np.float32)
    out[np.arange(len(indices)), indices] = 0.8
    return out


def test_metrics_per_task() -> None:
    labels = [np.array([0, 1, 2, 2])]
    assert score_outputs(CLASSES, [_probs([0, 1, 2, 0])], labels) == {"accuracy": 0.75}
    binary = [TargetInfo("b", "binary"), TargetInfo("y", "regression")]
    metrics = score_outputs(
        binary,
        [np.array([[0.9], [0.2]]), np.array([[1.0], [3.0]])],
        [np.array([1, 1]), np.array([2.0, 3.0])],
    )
    assert metrics == {"b_accuracy": 0.5, "y_mae": 0.5, "y_rmse": pytest.approx(np.sqrt(0.5))}


def test_float_exports_must_match_within_1e_4() -> None:
    labels = [np.array([0, 1, 2, 2])]
    ref = _probs([0, 1, 2, 2])
    close = verify_outputs(CLASSES, [ref], [ref + 5e-5], labels, quantized=False)
    assert close.verified and close.max_abs_diff == pytest.approx(5e-5, rel=1e-3)
    far = verify_outputs(CLASSES, [ref], [ref + 2e-4], labels, quantized=False)
    assert not far.verified and "tolerance 0.0001" in far.failures[0]


def test_large_outputs_match_relative_to_their_size() -> None:
    # A price near 180,000 in float32 cannot agree to 1e-4 absolute; 1e-4 of its size holds.
    labels = [np.array([180_000.0, 90_000.0])]
    ref = np.array([[180_000.0], [90_000.0]], np.float32)
    close = verify_outputs(VALUE, [ref], [ref + 0.4], labels, quantized=False)
    assert close.verified and close.max_abs_diff == pytest.approx(0.4, abs=0.02)
    far = verify_outputs(VALUE, [ref], [ref * 1.001], labels, quantized=False)
    assert not far.verified and "relative to outputs larger than 1" in far.failures[0]


def test_quantized_classification_may_lose_at_most_one_point() -> None:
    labels = [np.zeros(200, np.int64)]
    ref = _probs([0] * 200)
    lost_one = _probs([0] * 198 + [1] * 2)  # 1 point of 200 examples
    assert verify_outputs(CLASSES, [ref], [lost_one], labels, quantized=True).verified
    lost_two = _probs([0] * 196 + [1] * 4)
    check = verify_outputs(CLASSES, [ref], [lost_two], labels, quantized=True)
    assert not check.verified and "more than 1 point lost" in check.failures[0]


def test_quantized_regression_may_grow_the_error_2_percent() -> None:
    labels = [np.zeros(4)]
    ref = np.ones((4, 1), np.float32)
    assert verify_outputs(VALUE, [ref], [ref * 1.019], labels, quantized=True).verified
    check = verify_outputs(VALUE, [ref], [ref * 1.03], labels, quantized=True)
    assert not check.verified and "mae" in check.failures[0] and "2%" in check.failures[0]


def test_latency_is_per_example_and_tiles_small_inputs() -> None:
    seen: list[int] = []

    def predict(x: dict[str, np.ndarray]) -> None:
        seen.append(len(x["a"]))

    ms = measure_latency(predict, {"a": np.arange(10)}, 256, budget_s=0.01)
    assert ms >= 0 and set(seen) == {256} and len(seen) >= 4


def test_options_and_paths() -> None:
    run = Path("runs/x/1")
    assert artifact_path(run, "best", "tflite", "int8") == run / "export" / "best-int8.tflite"
    assert artifact_path(run, "last", "saved_model", "none") == run / "export/last.saved_model"
    assert sidecar_path(run / "export/best.onnx").name == "best.onnx.export.json"
    check_options("tflite", "float16")
    with pytest.raises(UsageError, match="ONNX exports are float32; use --format tflite"):
        check_options("onnx", "int8")
    with pytest.raises(UsageError, match="one of saved_model, tflite, onnx; received 'coreml'"):
        check_options("coreml", "none")


def test_every_format_is_one_entry_that_every_check_reads(tmp_path: Path) -> None:
    assert list(FORMATS) == ["saved_model", "tflite", "onnx"]
    assert QUANTIZATIONS == ("none", "dynamic", "float16", "int8")
    for fmt in FORMATS.values():
        assert fmt.suffix.startswith(".") and "none" in fmt.quantizations
        artifact = tmp_path / f"m{fmt.suffix}"
        if fmt.folder:
            (artifact / str(fmt.marker)).parent.mkdir()
            (artifact / str(fmt.marker)).write_bytes(b"")
        else:
            artifact.write_bytes(b"")
        assert artifact_format(artifact) == fmt.name
        assert check_output(tmp_path / f"new{fmt.suffix}", fmt.name).suffix == fmt.suffix
    assert artifact_format(tmp_path / "m.keras") is None
    assert artifact_format(tmp_path) is None  # a folder without saved_model.pb
    with pytest.raises(UsageError, match="must end with .tflite"):
        check_output(tmp_path / "m.bin", "tflite")
    with pytest.raises(UsageError, match="already exists and is not a dltrain export"):
        check_output(tmp_path / "m.onnx", "onnx")


def test_an_output_that_cannot_be_written_is_refused_before_converting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root, chmod stops nothing: os.access answers as it does on a read-only mount.
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if Path(p) == tmp_path else real_access(p, mode)
    )
    for fmt in ("tflite", "saved_model"):
        out = tmp_path / f"m{FORMATS[fmt].suffix}"
        with pytest.raises(UsageError, match=rf"-o {out}: cannot write there \(.*{tmp_path}"):
            check_output(out, fmt)
        missing = tmp_path / "sub" / "deeper" / f"m{FORMATS[fmt].suffix}"
        with pytest.raises(UsageError, match=r"cannot write there"):
            check_output(missing, fmt)
    monkeypatch.setattr(os, "access", real_access)
    made = tmp_path / "new" / "m.tflite"  # missing folders in a writable place are made later
    assert check_output(made, "tflite") == made
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match=r"cannot write there \(.*file is a file, not a folder"):
        check_output(tmp_path / "file" / "m.tflite", "tflite")


def test_text_inputs_are_refused_where_the_table_says() -> None:
    spec = DataSpec(
        kind="csv",
        targets=VALUE,
        raw_inputs=[InputInfo("features", (2,), "float32"), InputInfo("color", (1,), "string")],
        model_inputs=[],
    )
    check_supported("tflite", "int8", spec)
    with pytest.raises(ExportError, match="use --format saved_model or --format tflite"):
        check_supported("onnx", "none", spec)


def _result(latency: dict[str, dict[str, float]] | None) -> ExportResult:
    check = verify_outputs(
        VALUE, [np.ones((2, 1))], [np.ones((2, 1))], [np.ones(2)], quantized=False
    )
    out = Path("m.tflite")
    return ExportResult(
        out, sidecar_path(out), "tflite", "none", 10, 20, True, check, latency_ms=latency
    )


def test_latency_not_measured_is_said_not_invented() -> None:
    record = export_record(
        _result(None),
        checkpoint=Path("best.keras"),
        run_dir=Path("run"),
        inputs=[],
        outputs=[],
        config={},
        data_spec={},
        created="now",
        versions={},
    )
    assert record["verification"]["status"] == "verified"
    assert record["verification"]["latency_ms_per_example"] is None
    text = _rendered(_result(None))
    assert "latency not measured (--no-latency)" in text and "ms/example" not in text
    timed = {"batch_1": 0.5, "batch_256": 0.01}
    text = _rendered(_result({"export": timed, "keras": timed}))
    assert "ms/example, batch 256" in text and "not measured" not in text


def _rendered(result: ExportResult) -> str:
    buffer = io.StringIO()
    render_export(Console(file=buffer, width=100), result)
    return buffer.getvalue()


def test_an_output_inside_a_run_folders_checkpoints_is_refused(tmp_path: Path) -> None:
    """Fault probes 2, cosmetic: `export -o RUN/checkpoints/resume/x.tflite` was allowed."""
    run = tmp_path / "runs" / "exp" / "20260101T000000Z"
    (run / "checkpoints" / "resume").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    for out, fmt in (
        (run / "checkpoints" / "resume" / "x.tflite", "tflite"),
        (run / "checkpoints" / "m.onnx", "onnx"),
    ):
        with pytest.raises(UsageError, match=r"inside .*checkpoints, which belongs to the run"):
            check_output(out, fmt)
    assert check_output(run / "export" / "m.tflite", "tflite").name == "m.tflite"  # the default
    loose = tmp_path / "checkpoints" / "m.tflite"  # a folder of that name outside a run: fine
    assert check_output(loose, "tflite") == loose


def test_a_run_that_did_not_complete_is_said_beside_the_export() -> None:
    """Fault probes 2, cosmetic: exporting an `interrupted` run did not mention its status."""
    result = _result(None)
    result.notes = ["note: the run is interrupted (1 epoch completed): best.keras is exported"]
    out = _rendered(result)
    assert out.index("exported tflite") < out.index("note: the run is interrupted (1 epoch")


def test_predict_on_a_saved_model_folder_without_its_graph_says_so(tmp_path: Path) -> None:
    """Fault probes 2, cosmetic: it said "not a run folder (no run.json)"."""
    from typer.testing import CliRunner

    from dltrain.cli import app

    folder = tmp_path / "best.saved_model"
    (folder / "variables").mkdir(parents=True)
    (folder / "fingerprint.pb").write_bytes(b"")
    data = tmp_path / "in.csv"
    data.write_text("x\n1\n")
    result = CliRunner().invoke(app, ["predict", str(folder), str(data)])
    assert result.exit_code == 2, result.output
    assert f"{folder}: not a SavedModel: no saved_model.pb in it" in result.output
    assert "run.json" not in result.output
    assert artifact_format(folder) is None
