"""distill: a tiny teacher/student pair trains, saves the student alone, resumes bit-exact after
SIGKILL, and refuses a teacher that read other data."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import keras
import pytest
from datagen import tiny_mlp, write_mnist_npz
from probes import killed_after_epoch_one
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment
from dltrain.errors import ConfigError

runner = CliRunner()

STUDENT = tiny_mlp(
    name="student", seed=5, validation=0.2, units=8, dropout=0.2, epochs=3, batch_size=8
) + "deterministic: true\n"


def _losses(run_dir: Path) -> list[tuple[str, ...]]:
    with (run_dir / "metrics.csv").open() as handle:
        return [
            (r["epoch"], r["loss"], r["distillation_loss"], r["val_loss"])
            for r in csv.DictReader(handle)
        ]


@pytest.fixture(scope="module")
def npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("distill-data")
    return write_mnist_npz(folder / "m.npz", n_train=500, n_test=64)


@pytest.fixture(scope="module")
def teacher(npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("teacher")
    config = folder / "teacher.yaml"
    config.write_text(tiny_mlp(name="teacher", units=32, epochs=2).format(path=npz))
    result = run_experiment(config, runs_dir=folder / "runs")
    assert result.status == "completed"
    return result.run_dir


@pytest.fixture(scope="module")
def student_config(npz: Path, teacher: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("student")
    config = folder / "student.yaml"
    distill = f"distill: {{{{teacher: {teacher.parent}, temperature: 3.0, alpha: 0.3}}}}\n"
    config.write_text((STUDENT + distill).format(path=npz))
    return config


@pytest.fixture(scope="module")
def student(student_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_experiment(student_config, runs_dir=tmp_path_factory.mktemp("student-runs"))
    assert result.status == "completed", result.message
    return result.run_dir


def test_distilled_run_saves_the_student_alone_and_records_the_teacher(
    student: Path, teacher: Path
) -> None:
    for name in ("best.keras", "last.keras"):
        model = keras.saving.load_model(student / "checkpoints" / name)
        assert model.count_params() == 784 * 8 + 8 + 8 * 10 + 10  # the student, no teacher
        assert [type(layer).__name__ for layer in model.layers] == [
            "Flatten", "Dense", "Dropout", "Dense"
        ]
    manifest = json.loads((student / "run.json").read_text())
    record = manifest["distill"]
    teacher_manifest = json.loads((teacher / "run.json").read_text())
    best = teacher / "checkpoints" / "best.keras"
    assert record["teacher"] == str(teacher)  # runs/NAME resolved to its latest run
    assert record["run_id"] == f"teacher/{teacher.name}"
    assert record["sha256"] == hashlib.sha256(best.read_bytes()).hexdigest()
    assert record["test_metrics"] == teacher_manifest["final_metrics"]["test"]
    assert record["outputs"] == {"teacher": "softmax", "student": "softmax"}
    assert record["student_parameters"] < record["teacher_parameters"]
    assert manifest["parameters"]["total"] == record["student_parameters"]
    rows = _losses(student)
    assert len(rows) == 3 and all(float(r[2]) > 0 for r in rows)  # the teacher's term counts
    assert set(manifest["final_metrics"]["test"]) == {"accuracy", "loss"}  # the student's own
    # eval treats it as any run: the student's loss and accuracy on the test split.
    result = runner.invoke(app, ["eval", str(student)])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output


def test_check_shows_both_sizes(student_config: Path) -> None:
    result = runner.invoke(app, ["check", str(student_config)])
    assert result.exit_code == 0, result.output
    assert "parameters: teacher 25,450, student 6,370" in result.output
    assert "student/teacher 0.250" in result.output


def test_a_teacher_on_other_inputs_is_a_config_error_naming_both(
    student_config: Path, tmp_path: Path
) -> None:
    # The teacher read [28, 28] images; this student reads [28, 28, 1] ones.
    overrides = ["data.channel_axis=true", "model.input_shape=[28, 28, 1]"]
    with pytest.raises(ConfigError) as caught:
        run_experiment(student_config, overrides, runs_dir=tmp_path)
    text = caught.value.render()
    assert "distill.teacher" in text and "do not read the same data" in text
    assert "teacher image [28, 28] float32" in text
    assert "student image [28, 28, 1] float32" in text
    assert not (tmp_path / "student").exists()


def test_a_missing_feature_layer_is_a_config_error(student_config: Path, tmp_path: Path) -> None:
    overrides = ["distill.features=[{teacher: dense, student: nope}]"]
    with pytest.raises(ConfigError) as caught:
        run_experiment(student_config, overrides, runs_dir=tmp_path)
    assert "distill.features[0].student" in caught.value.render()
    assert "has no layer 'nope'" in caught.value.render()


def test_sigkill_then_resume_matches_the_uninterrupted_run(
    student: Path, student_config: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    run_dir = killed_after_epoch_one(student_config, runs, "student", timeout=120)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output
    assert _losses(run_dir) == _losses(student)  # every epoch, bit for bit
    saved = keras.saving.load_model(run_dir / "checkpoints" / "best.keras")
    assert saved.count_params() == 784 * 8 + 8 + 8 * 10 + 10
