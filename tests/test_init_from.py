"""`init_from: RUN[:best|last]`: a new run starts from another run's weights, matched by name."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from datagen import tiny_mlp, write_mnist_npz
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment

runner = CliRunner()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A trained 1-epoch MLP (Dense 32 -> Dense 10) and its data."""
    root = tmp_path_factory.mktemp("init-source")
    npz = write_mnist_npz(root / "m.npz", n_train=200, n_test=50)
    config = root / "source.yaml"
    config.write_text(tiny_mlp(name="source", units=32, epochs=1).format(path=npz))
    result = run_experiment(config, runs_dir=root / "runs")
    assert result.status == "completed"
    return result.run_dir, npz


def _weights(path: Path) -> list[np.ndarray]:
    model = keras.models.load_model(path)
    return [w for layer in model.layers for w in layer.get_weights()]


def test_a_run_starts_from_the_other_runs_weights(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    run_dir, npz = source
    # A learning rate too small to move any weight: the new run's weights are the source's.
    text = tiny_mlp(name="student", units=32, epochs=1, learning_rate=1e-12).format(path=npz)
    config = tmp_path / "student.yaml"
    config.write_text(text + f"init_from: {run_dir}:last\n")
    result = run_experiment(config, runs_dir=tmp_path / "runs")
    assert result.status == "completed"
    record = json.loads((result.run_dir / "run.json").read_text())["init_from"]
    assert record["run"] == str(run_dir)
    assert record["checkpoint"] == str(run_dir / "checkpoints" / "last.keras")
    assert len(record["copied"]) == 2 and record["kept_initial"] == []
    for mine, theirs in zip(
        _weights(result.run_dir / "checkpoints" / "last.keras"),
        _weights(run_dir / "checkpoints" / "last.keras"),
        strict=True,
    ):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)


def test_check_lists_what_matches_and_what_does_not(
    source: tuple[Path, Path], tmp_path: Path
) -> None:
    run_dir, npz = source
    # Dense 32 matches; the old output (32 -> 10) now meets Dense 8 (shapes differ); the new
    # output layer has no source layer.
    text = (
        tiny_mlp(name="wider", units=32)
        .format(path=npz)
        .replace(
            "    - Dense: {units: 10, activation: softmax}",
            "    - Dense: {units: 8, activation: relu}\n    - Dense: {units: 10, activation: softmax}",
        )
    )
    config = tmp_path / "wider.yaml"
    config.write_text(text + f"init_from: {run_dir}\n")
    result = runner.invoke(app, ["check", str(config)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"init_from: {run_dir / 'checkpoints' / 'best.keras'}" in out
    assert "copied (1):" in out
    assert "shapes differ, not copied:" in out and "(32, 10)" in out and "(32, 8)" in out
    assert "initial weights kept:" in out


def test_a_missing_run_is_a_located_error(source: tuple[Path, Path], tmp_path: Path) -> None:
    _, npz = source
    config = tmp_path / "lost.yaml"
    text = tiny_mlp(name="lost").format(path=npz)
    config.write_text(text + "init_from: runs/nowhere:best\n")
    line = len(text.splitlines()) + 1
    result = runner.invoke(app, ["check", str(config)])
    assert result.exit_code == 2
    # Relative to the config file, as data paths are.
    assert f"{config}:{line}:1: init_from: {tmp_path / 'runs' / 'nowhere'}: no such run" in (
        result.output
    )
    assert "Traceback" not in result.output
