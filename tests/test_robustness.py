"""Robustness: ``eval --attack`` (FGSM, PGD) and ``training.adversarial`` on tiny models.

FGSM lowers accuracy as epsilon grows and its epsilon 0 is plain eval's score; PGD is at least
as strong; perturbations stay within epsilon and the valid range (8-bit inputs too);
adversarial training records its settings, saves a plain model and resumes exactly; a model
with a categorical input is refused by both; a numeric table's regression is attacked
unclipped, its loss plotted.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from datagen import REGRESSION, tiny_mlp, write_mnist_npz, write_regression_csv
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.attack import attack_target
from dltrain.engine.evaluate import evaluate_target
from dltrain.engine.run import resume_experiment, run_experiment
from dltrain.errors import ConfigError
from dltrain.train.adversarial import AdversarialModel, Attack, float_view, perturb

runner = CliRunner()

FAST = "output: {{plots: false}}\n"


def _config(folder: Path, npz: Path, adversarial: str | None = None, epochs: int = 2) -> Path:
    text = tiny_mlp(name="robust", seed=5, units=32, epochs=epochs, batch_size=16)
    text = text.replace(
        f"training: {{{{epochs: {epochs}, batch_size: 16, jit_compile: false}}}}",
        f"training: {{{{epochs: {epochs}, batch_size: 16, jit_compile: false"
        + (f", adversarial: {{{{{adversarial}}}}}" if adversarial else "")
        + "}}",
    )
    path = folder / "robust.yaml"
    path.write_text((text + "deterministic: true\n" + FAST).format(path=npz))
    return path


@pytest.fixture(scope="module")
def npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("robust-data")
    return write_mnist_npz(folder / "m.npz", n_train=600, n_test=200)


@pytest.fixture(scope="module")
def plain_run(npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plain")
    result = run_experiment(_config(folder, npz), runs_dir=folder / "runs")
    assert result.status == "completed", result.message
    assert result.test_metrics["accuracy"] > 0.8  # a model worth attacking
    return result.run_dir


def _rows(path: Path) -> list[dict[str, float]]:
    data = json.loads(path.read_text())
    return [{"epsilon": r["epsilon"], "max": r["max_change"], **r["metrics"]} for r in data["rows"]]


@pytest.mark.slow
def test_fgsm_lowers_accuracy_as_epsilon_grows_from_plain_evals_score(plain_run: Path) -> None:
    result = runner.invoke(
        app, ["eval", str(plain_run), "--attack", "fgsm", "--epsilon", "0.2,0.02,0.05,0.1"]
    )
    assert result.exit_code == 0, result.output
    assert "under FGSM" in result.output
    written = sorted(plain_run.glob("attack-fgsm-test-*.json"))
    assert len(written) == 1
    rows = _rows(written[0])
    assert [r["epsilon"] for r in rows] == [0.0, 0.02, 0.05, 0.1, 0.2]
    accuracy = [r["accuracy"] for r in rows]
    assert all(a >= b for a, b in zip(accuracy, accuracy[1:], strict=False)), accuracy
    assert accuracy[-1] < accuracy[0] - 0.3, accuracy
    for row in rows:
        assert row["max"] <= row["epsilon"] + 1e-6
    plain = evaluate_target(plain_run)
    assert rows[0]["accuracy"] == plain.metrics["accuracy"]
    assert rows[0]["loss"] == pytest.approx(plain.metrics["loss"], rel=1e-5)


@pytest.mark.slow
def test_pgd_is_at_least_as_strong_as_fgsm(plain_run: Path) -> None:
    fgsm = attack_target(plain_run, method="fgsm", epsilons=[0.0, 0.05, 0.1])
    pgd = attack_target(plain_run, method="pgd", epsilons=[0.0, 0.05, 0.1])
    assert pgd.rows[0].metrics == fgsm.rows[0].metrics  # the same clean score
    for f, p in zip(fgsm.rows[1:], pgd.rows[1:], strict=True):
        # PGD climbs the loss further; its accuracy may differ from FGSM's by an example.
        assert p.metrics["loss"] >= f.metrics["loss"]
        assert p.metrics["accuracy"] <= f.metrics["accuracy"] + 1 / 200
        assert p.max_change <= p.epsilon + 1e-6
    again = attack_target(plain_run, method="pgd", epsilons=[0.05], limit=50)
    assert again.examples == 50
    repeat = attack_target(plain_run, method="pgd", epsilons=[0.05], limit=50)
    assert again.rows[1].metrics == repeat.rows[1].metrics  # seeded random start


def test_perturbations_stay_within_epsilon_and_the_valid_range(plain_run: Path) -> None:
    model = keras.saving.load_model(plain_run / "checkpoints" / "best.keras")
    x = tf.constant(np.random.default_rng(0).uniform(0, 1, (16, 28, 28)), tf.float32)
    x = tf.where(x > 0.5, tf.ones_like(x), tf.zeros_like(x))  # at both ends of the range
    y = tf.one_hot(tf.range(16) % 10, 10)
    for method in ("fgsm", "pgd"):
        attack = Attack(method, 0.1, 5, 0.05) if method == "pgd" else Attack(method, 0.1)
        adv = perturb(model, model, attack, {"image": (0.0, 1.0)}, x, y, seed=tf.constant([1, 2]))
        delta = np.abs(adv.numpy() - x.numpy())
        assert delta.max() <= 0.1 + 1e-6 and delta.max() > 0.05
        assert adv.numpy().min() >= 0.0 and adv.numpy().max() <= 1.0


def test_eight_bit_inputs_are_attacked_through_a_float_view_in_whole_levels() -> None:
    inputs = keras.Input((4, 4, 1), dtype="uint8", name="image")
    hidden = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    model.compile(loss="sparse_categorical_crossentropy")
    x = tf.constant(np.random.default_rng(1).integers(0, 256, (8, 4, 4, 1)), tf.uint8)
    y = tf.constant(np.arange(8) % 3)
    adv = perturb(model, float_view(model), Attack("fgsm", 2.6), {"image": (0.0, 255.0)}, x, y)
    assert adv.dtype == tf.uint8
    delta = np.abs(adv.numpy().astype(int) - x.numpy().astype(int))
    assert delta.max() == 2  # whole levels, cut towards the original: never above epsilon
    assert adv.numpy().max() <= 255


@pytest.fixture(scope="module")
def adversarial_run(npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("adversarial")
    config = _config(folder, npz, "method: pgd, epsilon: 0.1, ratio: 0.5, steps: 3")
    result = run_experiment(config, runs_dir=folder / "runs")
    assert result.status == "completed", result.message
    return result.run_dir


@pytest.mark.slow
def test_adversarial_training_records_and_saves_a_plain_model(adversarial_run: Path) -> None:
    manifest = json.loads((adversarial_run / "run.json").read_text())
    assert manifest["adversarial"] == {
        "method": "pgd",
        "epsilon": 0.1,
        "ratio": 0.5,
        "steps": 3,
        "step_size": pytest.approx(2.5 * 0.1 / 3),
        "clip": {"image": [0.0, 1.0]},
    }
    for name in ("best.keras", "last.keras"):
        model = keras.saving.load_model(adversarial_run / "checkpoints" / name)
        assert type(model) is keras.Sequential
        assert model.count_params() == 784 * 32 + 32 + 32 * 10 + 10
    predicted = runner.invoke(app, ["eval", str(adversarial_run)])
    assert predicted.exit_code == 0, predicted.output
    assert manifest["final_metrics"]["test"]["accuracy"] > 0.5  # it learned under attack


def _losses(run_dir: Path) -> list[tuple[str, ...]]:
    with (run_dir / "metrics.csv").open() as handle:
        return [(r["epoch"], r["loss"], r["val_loss"]) for r in csv.DictReader(handle)]


@pytest.mark.slow
def test_adversarial_training_resumes_exactly(
    adversarial_run: Path, npz: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, npz, "method: pgd, epsilon: 0.1, ratio: 0.5, steps: 3", epochs=1)
    first = run_experiment(config, runs_dir=tmp_path / "runs")
    assert first.status == "completed"
    resumed = resume_experiment(first.run_dir, ["training.epochs=2"])
    assert resumed.status == "completed", resumed.message
    assert _losses(first.run_dir) == _losses(adversarial_run)  # bit for bit, both epochs


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_adversarial_training_under_mixed_precision(policy: str, npz: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, npz, "method: pgd, epsilon: 0.1, ratio: 0.5, steps: 3", epochs=1)
    try:
        result = run_experiment(config, [f"precision={policy}"], runs_dir=tmp_path / "runs")
    finally:
        keras.mixed_precision.set_global_policy("float32")  # for the tests after this one
    assert result.status == "completed", result.message
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["precision"]["policy"] == policy and manifest["adversarial"]["steps"] == 3
    model = keras.saving.load_model(result.run_dir / "checkpoints" / "best.keras")
    assert type(model) is keras.Sequential  # the plain model, not the adversarial wrapper
    assert model.layers[-1].dtype_policy.compute_dtype == "float32"  # the output stays float32
    assert model.layers[0].dtype_policy.compute_dtype == policy.removeprefix("mixed_")
    assert 0.5 < result.test_metrics["accuracy"] <= 1.0  # it learned under attack


@pytest.mark.slow
def test_adversarial_training_under_a_mirrored_strategy(npz: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, npz, "method: pgd, epsilon: 0.1, ratio: 0.5, steps: 3", epochs=1)
    result = run_experiment(config, ["distribute.strategy=mirrored"], runs_dir=tmp_path / "runs")
    assert result.status == "completed", result.message
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["distribute"] == "mirrored" and manifest["adversarial"]["method"] == "pgd"
    model = keras.saving.load_model(result.run_dir / "checkpoints" / "best.keras")
    assert type(model) is keras.Sequential
    assert 0.5 < result.test_metrics["accuracy"] <= 1.0


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("robust-csv")
    return write_regression_csv(folder / "train.csv"), write_regression_csv(
        folder / "test.csv", n=60, seed=1
    )


def _regression(csv_files: tuple[Path, Path], folder: Path, edit: tuple[str, str]) -> Path:
    """The tiny CSV regression (x1, x2, a categorical color), one epoch, with ``edit`` made."""
    train, test = csv_files
    text = REGRESSION.format(train=train, test=test).replace(*edit)
    config = folder / "reg.yaml"
    config.write_text(text.replace("epochs: 2,", "epochs: 1,"))
    return config


@pytest.mark.slow
def test_a_categorical_input_is_refused_by_training_and_eval(
    csv_files: tuple[Path, Path], tmp_path: Path
) -> None:
    config = _regression(
        csv_files, tmp_path, ("name: tiny_reg", "name: tiny_reg\noutput: {plots: false}")
    )
    with pytest.raises(ConfigError) as caught:
        run_experiment(
            config, ["training.adversarial={epsilon: 0.1}"], runs_dir=tmp_path / "no-runs"
        )
    message = caught.value.render()
    assert "training.adversarial" in message and "'color'" in message
    assert "categorical" in message
    run = run_experiment(config, runs_dir=tmp_path / "runs")
    result = runner.invoke(app, ["eval", str(run.run_dir), "--attack", "fgsm"])
    assert result.exit_code == 2, result.output
    assert "cannot attack this model" in result.output and "'color'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_a_numeric_table_regression_is_attacked_unclipped_with_its_loss_plotted(
    csv_files: tuple[Path, Path], tmp_path: Path
) -> None:
    config = _regression(
        csv_files, tmp_path, ("  categorical: [color]\n", "  features: [x1, x2]\n")
    )
    run = run_experiment(config, runs_dir=tmp_path / "runs")
    assert run.status == "completed", run.message
    result = attack_target(run.run_dir, method="fgsm", epsilons=[0.5, 2.0])
    assert result.plotted == "loss" and "accuracy" not in result.rows[0].metrics
    losses = [r.metrics["loss"] for r in result.rows]
    assert losses[0] < losses[1] < losses[2], losses
    # CSV numbers are not clipped: every value moves by the full epsilon.
    assert [r.max_change for r in result.rows] == pytest.approx([0.0, 0.5, 2.0])
    assert result.settings["clip"] == {"features": None}
    assert result.plot is not None and result.plot.read_bytes()[:4] == b"\x89PNG"


def test_a_wrapped_multi_output_model_logs_the_names_the_model_itself_logs() -> None:
    inputs = keras.Input((3,), name="features")
    hidden = keras.layers.Dense(4, activation="relu")(inputs)
    price = keras.layers.Dense(1, name="price")(hidden)
    segment = keras.layers.Dense(2, activation="softmax", name="segment")(hidden)
    model = keras.Model(inputs, [price, segment])
    args = {
        "optimizer": "adam",
        "loss": {"price": "mse", "segment": "sparse_categorical_crossentropy"},
        "metrics": {"price": ["mae"], "segment": ["accuracy"]},
    }
    model.compile(**args)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = (np.ones((8, 1), "float32"), np.arange(8) % 2)
    expected = set(model.evaluate(x, y, return_dict=True, verbose=0))
    wrapper = AdversarialModel(model, Attack("fgsm", 0.1), 0.5, {"features": None}, seed=1)
    wrapper.compile(**{**args, "optimizer": model.optimizer})
    logs = wrapper.fit(x, y, epochs=1, batch_size=4, verbose=0).history
    assert set(logs) == expected  # segment_accuracy, price_mae, ...: not accuracy, mae
