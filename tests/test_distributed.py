"""tf.distribute strategies, two local workers, and mixed precision on CPU."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from datagen import tiny_mlp
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment
from dltrain.errors import UsageError
from dltrain.train.distributed import worker_role

runner = CliRunner()

CONFIG = tiny_mlp(name="dist", validation=0.25, learning_rate=0.003)


@pytest.fixture
def config(tmp_path: Path, mnist_npz: Path) -> Path:
    path = tmp_path / "dist.yaml"
    path.write_text(CONFIG.format(path=mnist_npz))
    return path


@pytest.mark.slow
def test_two_local_workers_write_exactly_one_completed_run(config: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "CI": "1", "TMPDIR": str(scratch)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dltrain",
            "launch",
            "--workers",
            "2",
            str(config),
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifests = list((tmp_path / "runs").rglob("run.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["status"] == "completed" and manifest["distribute"] == "multi_worker_mirrored"
    assert manifest["epochs_completed"] == 2 and manifest["workers"] == 2
    # launch names the workers it started (issue 25 N10).
    assert "launch: worker 0 (chief): pid " in proc.stderr, proc.stderr
    assert "launch: worker 1: pid " in proc.stderr and "worker-1.log" in proc.stderr
    # Trained across two workers, it still learns the generated classes (chance is 0.1), and
    # the chief's run.json has the last epoch's figures as its metrics.csv has them.
    final = manifest["final_metrics"]
    assert final["test"]["accuracy"] >= 0.5, final
    with (manifests[0].parent / "metrics.csv").open() as handle:
        last = list(csv.DictReader(handle))[-1]
    assert last["epoch"] == "2"
    assert final["train"]["accuracy"] == pytest.approx(float(last["accuracy"]))
    assert final["validation"]["accuracy"] == pytest.approx(float(last["val_accuracy"]))
    # The non-chief worker's temporary run folder and the launcher's logs are gone.
    assert not [
        p for p in scratch.iterdir() if p.name.startswith(("dltrain-worker-", "dltrain-launch-"))
    ]


def test_mirrored_strategy_trains(config: Path, tmp_path: Path) -> None:
    result = run_experiment(config, ["distribute.strategy=mirrored"], runs_dir=tmp_path / "r")
    assert result.status == "completed" and "accuracy" in result.test_metrics
    assert json.loads((result.run_dir / "run.json").read_text())["workers"] == 1


def test_mixed_bfloat16_keeps_outputs_float32(config: Path, tmp_path: Path) -> None:
    import keras

    try:
        result = run_experiment(config, ["precision=mixed_bfloat16"], runs_dir=tmp_path / "r")
        assert result.status == "completed"
        model = keras.saving.load_model(result.run_dir / "checkpoints" / "best.keras")
        assert model.layers[1].compute_dtype == "bfloat16"
        assert model.outputs[0].dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_worker_role_reads_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    )
    role = worker_role()
    assert (role.index, role.workers, role.is_chief) == (1, 2, False)
    chief = {"chief": ["h:1"], "worker": ["h:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": chief, "task": {"type": "worker", "index": 0}})
    )
    assert not worker_role().is_chief
    monkeypatch.setenv("TF_CONFIG", "{broken")
    with pytest.raises(UsageError, match="TF_CONFIG"):
        worker_role()


def test_multi_worker_without_tf_config_is_exit_2(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = runner.invoke(
        app,
        [
            "run",
            str(config),
            "--set",
            "distribute.strategy=multi_worker_mirrored",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 2
    assert "TF_CONFIG" in result.output and "dltrain launch" in result.output


def test_only_non_chief_workers_of_multi_worker_runs_follow_the_chief(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dltrain.train.distributed import follows_chief

    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    for index, follows in [(0, False), (1, True)]:
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(task))
        assert follows_chief("multi_worker_mirrored") is follows
        assert follows_chief("default") is False
    monkeypatch.delenv("TF_CONFIG")
    assert follows_chief(None) is False  # single-machine runs need no TF_CONFIG
    with pytest.raises(UsageError, match="TF_CONFIG"):
        follows_chief("multi_worker_mirrored")
