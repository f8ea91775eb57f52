"""`dltrain run`, `eval`, `predict`, `runs`, `compare` end to end on tiny generated data."""

from __future__ import annotations

import csv
import json
import os
import textwrap
from pathlib import Path

import pytest
from datagen import MLP, REGRESSION
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.evaluate import evaluate_target
from dltrain.engine.run import run_experiment

runner = CliRunner()

# For runs whose tests read no plots (test_run_folder_contents and the regression test do).
NO_PLOTS = "output.plots=false"


@pytest.fixture(scope="module")
def mlp_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datagen import write_mnist_npz

    folder = tmp_path_factory.mktemp("mlp")
    path = folder / "mlp.yaml"
    path.write_text(MLP.format(path=write_mnist_npz(folder / "data" / "mnist.npz")))
    return path


@pytest.fixture(scope="module")
def mlp_run(mlp_config: Path) -> Path:
    """One trained run shared by the tests that only read it (or add eval files to it)."""
    result = run_experiment(mlp_config, runs_dir=mlp_config.parent / "runs")
    assert result.status == "completed" and result.exit_code == 0
    return result.run_dir


def test_run_folder_contents(mlp_run: Path) -> None:
    manifest = json.loads((mlp_run / "run.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["epochs_completed"] == 2 and manifest["epochs_planned"] == 2
    for key in (
        "config_hash",
        "seed",
        "versions",
        "platform",
        "started_at",
        "finished_at",
        "timings",
        "data",
        "final_metrics",
        "best",
    ):
        assert key in manifest, key
    assert manifest["versions"]["tensorflow"] and manifest["versions"]["keras"].startswith("3")
    assert manifest["timings"]["time_to_first_step_s"] > 0
    # From the process's own start (here: the test session's), so never less than the above.
    timings = manifest["timings"]
    assert timings["process_start_to_first_step_s"] >= timings["time_to_first_step_s"]
    assert manifest["jit_compile"]["setting"] == "auto" and manifest["steps_per_execution"] >= 1
    # auto compiles this dense model with XLA: its executions run as one program each.
    assert manifest["jit_compile"]["enabled"] and manifest["fused_executions"] is True
    assert manifest["data"]["train_size"] == 256 and manifest["data"]["test_size"] == 64
    assert manifest["data"]["fingerprint"]
    assert set(manifest["final_metrics"]) == {"train", "validation", "test"}

    with (mlp_run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_time_s"} <= set(
        rows[0]
    )
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])  # it learns
    # The generated classes are learnable: far better than chance (0.1) on the test split.
    final = manifest["final_metrics"]
    assert final["test"]["accuracy"] >= 0.8, final
    # The train and validation figures are the last epoch's, as metrics.csv has them.
    assert final["train"]["accuracy"] == pytest.approx(float(rows[1]["accuracy"]))
    assert final["validation"]["accuracy"] == pytest.approx(float(rows[1]["val_accuracy"]))

    assert "Dense" in (mlp_run / "model.txt").read_text()
    assert "units: 32" in (mlp_run / "config.yaml").read_text()
    assert (mlp_run / "checkpoints" / "best.keras").stat().st_size > 1000
    assert (mlp_run / "checkpoints" / "last.keras").stat().st_size > 1000
    for plot in ("loss.png", "accuracy.png", "confusion_matrix.png"):
        assert (mlp_run / "plots" / plot).read_bytes()[:4] == b"\x89PNG"
    assert not list(mlp_run.rglob("*.tmp*")), "temporary files left behind"
    umask = os.umask(0)
    os.umask(umask)
    for written in ("run.json", "metrics.csv", "config.yaml", "plots/loss.png"):
        assert (mlp_run / written).stat().st_mode & 0o777 == 0o666 & ~umask, written


def test_eval_reproduces_the_runs_test_metrics(mlp_run: Path) -> None:
    recorded = json.loads((mlp_run / "run.json").read_text())["final_metrics"]["test"]
    result = evaluate_target(mlp_run)
    assert result.metrics == pytest.approx(recorded, rel=1e-5)
    assert result.written is not None and result.written.parent == mlp_run
    saved = json.loads(result.written.read_text())
    assert saved["split"] == "test" and saved["examples"] == 64
    # It names the checkpoint and the epoch it holds (issue 25 N19).
    best_epoch = json.loads((mlp_run / "run.json").read_text())["best"]["epoch"]
    assert saved["checkpoint_epoch"] == best_epoch and f"epoch {best_epoch}" in saved[
        "checkpoint_detail"
    ]


def test_eval_cli_on_checkpoint_and_validation_split(mlp_run: Path) -> None:
    result = runner.invoke(
        app, ["eval", str(mlp_run / "checkpoints" / "last.keras"), "--split", "validation"]
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "validation metrics" in result.output
    epochs = json.loads((mlp_run / "run.json").read_text())["epochs_completed"]
    assert f"checkpoint: checkpoints/last.keras (epoch {epochs}, the last completed)" in (
        result.output
    )


def test_eval_latest_run_of_a_name_and_data_file_naming(
    mlp_run: Path, mnist_npz: Path, tmp_path: Path
) -> None:
    holdout = tmp_path / "holdout-set.npz"
    holdout.write_bytes(mnist_npz.read_bytes())
    result = runner.invoke(app, ["eval", str(mlp_run.parent), "--data", str(holdout)])
    assert result.exit_code == 0, result.output
    assert f"using the latest run in {mlp_run.parent}: {mlp_run}" in result.output
    assert "metrics on holdout-set.npz" in result.output and "test metrics" not in result.output
    (written,) = mlp_run.glob("eval-holdout-set-*.json")
    saved = json.loads(written.read_text())
    assert saved["split"] == "holdout-set" and saved["data"] == str(holdout.resolve())


def test_bare_checkpoint_is_refused_saying_what_is_accepted(mlp_run: Path, tmp_path: Path) -> None:
    bare = tmp_path / "model.keras"
    bare.write_bytes((mlp_run / "checkpoints" / "best.keras").read_bytes())
    result = runner.invoke(app, ["eval", str(bare)])
    assert result.exit_code == 2, result.output
    assert "not inside a run folder" in result.output
    assert "a name's folder (runs/NAME: its latest run)" in result.output
    listing = runner.invoke(app, ["runs", str(mlp_run)])
    assert listing.exit_code == 0 and mlp_run.name in listing.output, listing.output
    assert "mnist mnist.npz" in listing.output


def test_predict_images(mlp_run: Path, mnist_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.csv"
    result = runner.invoke(app, ["predict", str(mlp_run), str(mnist_npz), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 64  # x_test of the generated npz
    assert list(rows[0])[:2] == ["row", "predicted_label"]
    assert [r["row"] for r in rows[:2]] == ["1", "2"]
    assert f"{mnist_npz}: the test split (x_test), 64 images" in result.output
    probs = [float(rows[0][f"label_p_{k}"]) for k in range(10)]
    assert sum(probs) == pytest.approx(1.0, abs=1e-4)


def test_predict_replaces_an_output_only_with_overwrite(
    mlp_run: Path, mnist_npz: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred.csv"
    out.write_text("earlier predictions\n")
    args = ["predict", str(mlp_run), str(mnist_npz), "-o", str(out)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "add --overwrite" in refused.output
    assert out.read_text() == "earlier predictions\n"
    replaced = runner.invoke(app, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert out.read_text().startswith("row,predicted_label,")


def test_runs_and_compare(mlp_config: Path, mlp_run: Path, tmp_path: Path) -> None:
    import shutil

    first = tmp_path / "runs" / mlp_run.parent.name / mlp_run.name
    shutil.copytree(mlp_run, first)
    second = run_experiment(
        mlp_config,
        ["optimizer.learning_rate=0.001", "training.epochs=1", NO_PLOTS],
        runs_dir=tmp_path / "runs",
    )
    listing = runner.invoke(app, ["runs", str(tmp_path / "runs")])
    assert listing.exit_code == 0, listing.output
    assert "tiny_mlp" in listing.output and listing.output.count("completed") == 2
    compared = runner.invoke(app, ["compare", str(first), str(second.run_dir)])
    assert compared.exit_code == 0, compared.output
    assert "optimizer.learning_rate" in compared.output
    assert "training.epochs" in compared.output
    assert "test/accuracy" in compared.output


def test_csv_regression_end_to_end_and_eval_on_raw_csv(tmp_path: Path) -> None:
    from datagen import write_regression_csv

    train = write_regression_csv(tmp_path / "train.csv", n=240, seed=1, missing=True)
    test = write_regression_csv(tmp_path / "test.csv", n=60, seed=2)
    config = tmp_path / "reg.yaml"
    config.write_text(REGRESSION.format(train=train, test=test))
    result = run_experiment(config, runs_dir=tmp_path / "runs")
    assert result.status == "completed"
    assert {"loss", "mae"} <= set(result.test_metrics)
    plots = {p.name for p in (result.run_dir / "plots").iterdir()}
    assert {"loss.png", "predicted_vs_true_y.png", "residuals_y.png"} <= plots

    again = evaluate_target(result.run_dir, data=test)
    assert again.metrics == pytest.approx(result.test_metrics, rel=1e-5)

    out = runner.invoke(app, ["predict", str(result.run_dir), str(test)])
    assert out.exit_code == 0, out.output
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "row,predicted_y" and len(lines) == 61
    assert lines[1].startswith("2,")  # row numbers as error messages count them

    # Trained with missing: mean, so predict fills empty cells (numeric and categorical).
    holes = tmp_path / "holes.csv"
    holes.write_text("x1,x2,color\n,1.0,red\n2.0,,\n")
    out = runner.invoke(app, ["predict", str(result.run_dir), str(holes)])
    assert out.exit_code == 0, out.output
    assert [line.split(",")[0] for line in out.stdout.strip().splitlines()] == ["row", "2", "3"]
    warnings = json.loads((result.run_dir / "run.json").read_text())["data"]["warnings"]
    assert any("empty cells filled" in w and "x1 " in w for w in warnings), warnings


def test_failing_run_says_why_and_exits_1(tmp_path: Path, regression_csv: Path) -> None:
    config = tmp_path / "nan.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        data: {{kind: csv, path: {regression_csv}, target: y, categorical: [color]}}
        model: {{layers: [{{Dense: {{units: 1}}}}]}}
        optimizer: {{name: sgd, learning_rate: 1.0e+30}}
        training: {{epochs: 3, batch_size: 8, jit_compile: false}}
        """)
    )
    result = runner.invoke(app, ["run", str(config), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 1, result.output
    assert "loss became" in result.output
    assert "next: lower optimizer.learning_rate (it was 1e+30; try --set" in result.output
    assert "training.on_nan: rollback" in result.output
    manifest_path = next((tmp_path / "runs").glob("nan/*/run.json"))
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "failed"
    assert "epoch 1" in manifest["error"] and "batch" in manifest["error"]


def test_bad_data_is_exit_2_and_writes_no_run(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(MLP.format(path=tmp_path / "missing.npz"))
    result = runner.invoke(app, ["run", str(config), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "missing.npz" in result.output and "Traceback" not in result.output
    assert not list((tmp_path / "runs").rglob("run.json"))


def test_unwritable_runs_dir_is_reported_before_training(mlp_config: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["run", str(mlp_config), "--runs-dir", str(blocker / "runs")])
    assert result.exit_code == 2
    assert "not writable" in result.output


def test_python_api(mlp_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import logging
    import os

    import dltrain

    loggers = {n: list(logging.getLogger(n).handlers) for n in ("tensorflow", "absl", "keras")}
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    result = dltrain.run(
        str(mlp_config),
        overrides=["training.epochs=2", NO_PLOTS],
        runs_dir=tmp_path / "r",
        progress=True,
    )
    assert result.run_dir.parent.name == "tiny_mlp" and result.epochs_completed == 2
    assert "accuracy" in result.test_metrics
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out  # progress when asked
    # The host process is left as it was: its loggers and TensorFlow's log level.
    assert {n: list(logging.getLogger(n).handlers) for n in loggers} == loggers
    assert os.environ.get("TF_CPP_MIN_LOG_LEVEL") == level
    assert (result.run_dir / "logs").is_dir()
    silent = dltrain.run(
        str(mlp_config), overrides=["training.epochs=1", NO_PLOTS], runs_dir=tmp_path / "r"
    )
    assert silent.status == "completed" and "epoch" not in capsys.readouterr().out


def test_callbacks_early_stopping_reduce_lr_and_tensorboard(
    mlp_config: Path, tmp_path: Path
) -> None:
    result = run_experiment(
        mlp_config,
        [
            "training.epochs=6",
            "callbacks.early_stopping={patience: 2, min_delta: 100.0, monitor: val_loss}",
            "callbacks.reduce_lr={patience: 0, factor: 0.5, min_delta: 100.0}",
            "callbacks.tensorboard=true",
            NO_PLOTS,
        ],
        runs_dir=tmp_path / "runs",
    )
    assert result.status == "completed" and result.stopped_early
    # No epoch improves by 100: epoch 1 sets the best, epochs 2-3 exhaust patience 2.
    assert result.epochs_completed == 3
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["stopped_early"] is True and manifest["epochs_completed"] == 3
    with (result.run_dir / "metrics.csv").open() as handle:
        rates = [float(r["learning_rate"]) for r in csv.DictReader(handle)]
    # Reduce-LR (patience 0) halves the rate after epoch 2, so epoch 3 trains with half.
    assert rates[1] == pytest.approx(rates[0]) and rates[2] == pytest.approx(rates[0] * 0.5)
    events = list((result.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event files"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["callbacks.checkpoint.monitor=val_acuracy"], "did you mean 'val_accuracy'"),
        (
            [
                "callbacks.reduce_lr=true",
                "optimizer.learning_rate={class_name: ExponentialDecay, config: "
                "{initial_learning_rate: 0.01, decay_steps: 10, decay_rate: 0.9}}",
            ],
            "reduce_lr cannot change a learning-rate schedule",
        ),
    ],
)
def test_callback_problems_stop_before_training(
    mlp_config: Path, tmp_path: Path, overrides: list[str], fragment: str
) -> None:
    args = [arg for item in overrides for arg in ("--set", item)]
    result = runner.invoke(
        app, ["run", str(mlp_config), *args, "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert not list((tmp_path / "runs").rglob("run.json"))


def test_steps_per_execution_keeps_epoch_boundaries(mlp_config: Path, tmp_path: Path) -> None:
    losses = []
    for spe in (1, 3, 16):  # 8 steps per epoch: executions of 1, 2 and 8 batches
        result = run_experiment(
            mlp_config,
            [f"training.steps_per_execution={spe}", "deterministic=true", NO_PLOTS],
            runs_dir=tmp_path / f"spe{spe}",
        )
        with (result.run_dir / "metrics.csv").open() as handle:
            losses.append([float(r["loss"]) for r in csv.DictReader(handle)])
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert losses[2] == pytest.approx(losses[0], rel=1e-5)


def test_data_warnings_are_shown_and_kept(tmp_path: Path) -> None:
    rows = ["a,k,y"] + [f"{i / 50:.3f},5,{2 * i / 50:.3f}" for i in range(120)]
    (tmp_path / "w.csv").write_text("\n".join(rows) + "\n")
    config = tmp_path / "w.yaml"
    config.write_text(
        "data: {kind: csv, path: w.csv, target: y}\n"
        "model: {layers: [{Dense: {units: 1}}]}\ntraining: {epochs: 1, jit_compile: false}\n"
        "output: {plots: false}\n"
    )
    result = runner.invoke(app, ["run", str(config), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "warning: column 'k' is constant" in result.output
    manifest = json.loads(next((tmp_path / "runs").rglob("run.json")).read_text())
    assert any("'k'" in w for w in manifest["data"]["warnings"])


def test_jit_auto_is_decided_per_model_and_recorded(mlp_run: Path) -> None:
    import keras
    from tensorflow.python.framework import config as tf_config

    from dltrain.model.jit import decide_jit

    tf_config.disable_op_determinism()  # an earlier test's run may have set it

    dense = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(4)])
    conv = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    rnn = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(2)])
    cpu = {"deterministic": False, "distributed": False, "accelerators": []}
    gru = keras.Sequential([keras.Input((5, 3)), keras.layers.GRU(2)])
    choice = decide_jit(dense, "auto", **cpu)
    assert choice.enabled and "Dense, Flatten" in choice.reason
    assert decide_jit(rnn, "auto", **cpu).enabled  # measured faster under XLA, resumes exactly
    for model, layer in ((conv, "Conv2D"), (gru, "GRU")):
        choice = decide_jit(model, "auto", **cpu)
        assert not choice.enabled and layer in choice.reason
    gpu = {**cpu, "accelerators": ["GPU"]}
    assert decide_jit(conv, "auto", **gpu).enabled  # Keras's rule with a GPU
    assert not decide_jit(dense, "auto", **{**cpu, "distributed": True}).enabled
    assert decide_jit(conv, True, **cpu).enabled and not decide_jit(dense, False, **cpu).enabled
    # The run of the same layers recorded its choice (the devices are asked as the run did).
    recorded = json.loads((mlp_run / "run.json").read_text())["jit_compile"]
    assert recorded == decide_jit(dense, "auto", deterministic=False, distributed=False).to_json()


@pytest.mark.slow
def test_xla_cache_is_filled_and_gives_identical_results(mlp_config: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    def run(cache: str, name: str) -> list[dict[str, str]]:
        # Not the session's cache (TF_XLA_FLAGS names it): this test's own.
        env = {k: v for k, v in os.environ.items() if k != "TF_XLA_FLAGS"}
        env.update(DLTRAIN_XLA_CACHE=cache, CI="1")
        args = ["run", str(mlp_config), "--runs-dir", str(tmp_path / name), "-q"]
        done = subprocess.run(
            [sys.executable, "-m", "dltrain", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        folder = next((tmp_path / name).glob("*/*/run.json")).parent
        manifest = json.loads((folder / "run.json").read_text())
        assert manifest["jit_compile"]["enabled"] is True  # auto: a dense model on a CPU
        assert manifest["steps_per_execution"] == 8  # 8 steps per epoch, up to 16
        with (folder / "metrics.csv").open() as handle:
            return [
                {k: v for k, v in r.items() if k != "epoch_time_s"} for r in csv.DictReader(handle)
            ]

    cache = tmp_path / "xla"
    first = run(str(cache), "cold")
    stored = sorted(cache.rglob("*.pb"))
    entries = [p.name for p in stored]
    assert len(entries) >= 3  # the train, test and predict steps were stored
    assert sorted(p.name for p in cache.rglob("*.pb.sha256")) == [e + ".sha256" for e in entries]
    # One warm run proves both halves. The first entry stays whole: it is loaded (not written
    # again) and gives the same numbers. fault-probes-2 H2: the others are truncated to half;
    # the second keeps its seal (it fails it), the rest lose theirs (a SIGKILLed run's
    # entries, an older cache or a copy: dropped unchecked). They are compiled again, never
    # loaded damaged (0.096 test accuracy when they were).
    intact, damaged = stored[0], stored[1:]
    intact_stamp = intact.stat().st_mtime_ns
    for i, entry in enumerate(damaged):
        os.truncate(entry, entry.stat().st_size // 2)
        if i:
            (entry.parent / (entry.name + ".sha256")).unlink()
    assert run(str(cache), "warm") == first  # the same numbers, loaded or compiled again
    assert intact.stat().st_mtime_ns == intact_stamp  # loaded from the cache, not rewritten
    assert sorted(p.name for p in cache.rglob("*.pb")) == entries  # nothing else to compile
    assert all(p.stat().st_size > 0 for p in damaged)
    assert sorted(p.name for p in cache.rglob("*.pb.sha256")) == [e + ".sha256" for e in entries]
