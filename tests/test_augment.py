"""``augment:``: Keras preprocessing layers at the model's start, on only while training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config import ExperimentConfig, config_from_dict
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import ConfigError
from dltrain.model import build_model, summarize_model

runner = CliRunner()

LABEL = TargetInfo("label", "multiclass", 10, None, False)
HEAD = {"layers": [{"Flatten": {}}, {"Dense": {"units": 10, "activation": "softmax"}}]}
IMAGE_AUGMENT = {
    "flip": "horizontal",
    "rotate": 0.1,
    "zoom": 0.2,
    "translate": 0.1,
    "contrast": 0.3,
    "brightness": 0.2,
}


def pixels_spec(shape: tuple[int, ...] = (32, 32, 3)) -> DataSpec:
    """As image folders describe their data: uint8 pixels, scaled to [0, 1] in the model."""

    def preprocess(inputs: dict[str, Any]) -> dict[str, Any]:
        ((name, tensor),) = inputs.items()
        return {name: keras.layers.Rescaling(1.0 / 255.0, name="scale_pixels")(tensor)}

    raw = InputInfo("image", shape, "uint8")
    facing = InputInfo("image", shape, "float32")
    return DataSpec("image_folder", [raw], [facing], [LABEL], preprocess=preprocess)


def wave_spec(samples: int = 800) -> DataSpec:
    info = [InputInfo("audio", (samples,), "float32")]
    return DataSpec("audio_folder", info, list(info), [LABEL])


def mnist_spec(shape: tuple[int, ...] = (28, 28, 1)) -> DataSpec:
    info = [InputInfo("image", shape, "float32")]
    return DataSpec("mnist", info, list(info), [LABEL])


def config(data: dict[str, Any], augment: dict[str, Any] | None, **extra: Any) -> ExperimentConfig:
    body: dict[str, Any] = {"seed": 11, "data": data, "model": HEAD, **extra}
    if augment is not None:
        body["augment"] = augment
    return config_from_dict(body).config


IMAGES = {"kind": "image_folder", "path": "images"}
AUDIO = {"kind": "audio_folder", "path": "sounds"}


def built(cfg: ExperimentConfig, spec: DataSpec) -> keras.Model:
    keras.utils.set_random_seed(cfg.seed)  # as the run does: the same weights for both builds
    return build_model(cfg, spec)


def names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers]


def test_image_keys_become_named_layers_before_the_pixel_scaling() -> None:
    model = built(config(IMAGES, IMAGE_AUGMENT), pixels_spec())
    augment = [f"augment_{key}" for key in IMAGE_AUGMENT]
    assert names(model)[: len(augment) + 2] == ["image", *augment, "scale_pixels"]
    contrast = model.get_layer("augment_contrast")
    brightness = model.get_layer("augment_brightness")
    assert tuple(contrast.value_range) == (0, 255)  # raw uint8 pixels, before the scaling
    assert tuple(brightness.value_range) == (0, 255)
    # Each key its own seed: the config's seed plus the key's place in the schema.
    seeds = [model.get_layer(name).seed for name in augment]
    assert seeds == [11, 12, 13, 14, 15, 16]
    zoom = model.get_layer("augment_zoom")
    assert zoom.height_factor == 0.2 and zoom.width_factor is None  # aspect ratio kept
    assert {model.get_layer(name).output.dtype for name in augment} == {"float32"}
    text = summarize_model(model).to_text()  # what model.txt and `dltrain check` show
    assert "augment_flip" in text and "RandomFlip" in text and "RandomBrightness" in text


def test_augmentation_acts_in_training_only() -> None:
    spec = pixels_spec()
    augmented = built(config(IMAGES, IMAGE_AUGMENT), spec)
    plain = built(config(IMAGES, None), spec)
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype("uint8")
    expected = plain.predict(x, verbose=0)
    np.testing.assert_array_equal(augmented.predict(x, verbose=0), expected)
    np.testing.assert_array_equal(augmented.predict(x, verbose=0), expected)
    np.testing.assert_array_equal(augmented(x, training=False).numpy(), plain(x).numpy())
    # The layers' own output: unchanged pixels (as float32) in inference, changed in training.
    front = keras.Model(augmented.input, augmented.get_layer("augment_brightness").output)
    np.testing.assert_array_equal(front(x, training=False).numpy(), x.astype("float32"))
    trained = front(x, training=True).numpy()
    assert trained.shape == x.shape and not np.array_equal(trained, x.astype("float32"))
    assert trained.min() >= 0 and trained.max() <= 255  # clipped to the value range


def test_mnist_floats_use_the_unit_range_unless_unscaled() -> None:
    data = {"kind": "mnist", "path": "m.npz", "channel_axis": True}
    model = built(config(data, {"contrast": 0.2, "noise": 0.05}), mnist_spec())
    assert tuple(model.get_layer("augment_contrast").value_range) == (0, 1)
    assert names(model)[-4:-2] == ["augment_contrast", "augment_noise"]
    unscaled = built(config({**data, "scale": False}, {"brightness": 0.2}), mnist_spec())
    assert tuple(unscaled.get_layer("augment_brightness").value_range) == (0, 255)


def test_audio_shift_moves_the_waveform_and_fills_silence() -> None:
    model = built(config(AUDIO, {"shift": 0.25, "noise": 0.01}), wave_spec())
    assert names(model)[:5] == [
        "audio",
        "augment_shift_frame",
        "augment_shift",
        "augment_shift_unframe",
        "augment_noise",
    ]
    assert {type(layer).__name__ for layer in model.layers} <= {
        "InputLayer",
        "Reshape",
        "RandomTranslation",
        "GaussianNoise",
        "Flatten",
        "Dense",
    }
    wave = np.sin(np.linspace(0, 40, 800, dtype="float32"))[None].repeat(6, axis=0) + 2.0
    shifted = keras.Model(model.input, model.get_layer("augment_shift_unframe").output)
    np.testing.assert_array_equal(shifted(wave, training=False).numpy(), wave)
    moved = shifted(wave, training=True).numpy()
    assert moved.shape == wave.shape
    for row in moved:  # whole-sample moves of at most a quarter, silence where nothing was
        k = int(np.argmax(row != 0)) or -int(np.argmax(row[::-1] != 0))
        assert abs(k) <= 200
        np.testing.assert_array_equal(
            row, np.roll(wave[0], k) * (np.arange(800) >= k if k >= 0 else np.arange(800) < 800 + k)
        )
    assert any(row[0] == 0 or row[-1] == 0 for row in moved)
    noisy = model.get_layer("augment_noise")
    assert noisy.stddev == 0.01 and noisy.seed == 11 + 7


def test_saved_model_keeps_the_layers_and_stays_off_in_inference(tmp_path: Path) -> None:
    model = built(config(IMAGES, {"flip": "horizontal_and_vertical", "rotate": 0.2}), pixels_spec())
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [n for n in names(loaded) if n.startswith("augment_")] == [
        "augment_flip",
        "augment_rotate",
    ]
    x = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype("uint8")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    front = keras.Model(loaded.input, loaded.get_layer("augment_rotate").output)
    np.testing.assert_array_equal(front(x, training=False).numpy(), x.astype("float32"))
    assert not np.array_equal(front(x, training=True).numpy(), x.astype("float32"))


def problems(cfg: ExperimentConfig, spec: DataSpec) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        build_model(cfg, spec)
    return {problem.path or "": problem.message for problem in info.value.problems}


def test_keys_the_data_cannot_take_are_located_all_at_once() -> None:
    mnist = {"kind": "mnist", "path": "m.npz"}
    found = problems(
        config(
            mnist,
            {"flip": "vertical", "contrast": 0.1, "shift": 0.1, "noise": 0.1},
            model={"layers": [{"Flatten": {}}, {"Dense": {"units": 10, "activation": "nope"}}]},
        ),
        mnist_spec((28, 28)),
    )
    model_paths = [path for path in found if path.startswith("model.layers[1]")]
    assert set(found) - set(model_paths) == {"augment.flip", "augment.contrast", "augment.shift"}
    assert len(model_paths) == 1  # the model's own problem, reported too
    assert "set `data.channel_axis: true`" in found["augment.flip"]
    assert "(height, width, channels)" in found["augment.contrast"]
    assert "(samples,)" in found["augment.shift"]

    sounds = problems(config(AUDIO, {"rotate": 0.1, "shift": 0.1}), wave_spec())
    assert set(sounds) == {"augment.rotate"} and "(800,)" in sounds["augment.rotate"]

    pixels = problems(config(IMAGES, {"flip": "horizontal", "noise": 0.1}), pixels_spec())
    assert set(pixels) == {"augment.noise"} and "uint8" in pixels["augment.noise"]


def test_several_inputs_or_table_columns_are_refused() -> None:
    two = [InputInfo("a", (2,)), InputInfo("b", (3,))]
    spec = DataSpec("csv", two, list(two), [TargetInfo("y", "regression")])
    csv = {"kind": "csv", "path": "t.csv", "target": "y"}
    head = {
        "type": "functional",
        "inputs": {"a": {}, "b": {}},
        "layers": [
            {"name": "ab", "Concatenate": {}, "inputs": ["a", "b"]},
            {"name": "out", "Dense": {"units": 1}, "inputs": "ab"},
        ],
        "outputs": ["out"],
    }
    found = problems(config(csv, {"noise": 0.1}, model=head), spec)
    assert set(found) == {"augment"} and "provides 2 ('a', 'b')" in found["augment"]

    table = [InputInfo("features", (3,), "float32", ("x1", "x2", "x3"))]
    spec = DataSpec("csv", table, list(table), [TargetInfo("y", "regression")])
    line = {"layers": [{"Dense": {"units": 1}}]}
    found = problems(config(csv, {"shift": 0.1}, model=line), spec)
    assert set(found) == {"augment.shift"} and "table columns" in found["augment.shift"]
    # Noise on float columns is allowed.
    model = built(config(csv, {"noise": 0.1}, model=line), spec)
    assert "augment_noise" in names(model)


# A real run: MNIST-format data with a channel axis, augmented, stopped after epoch 1 and
# resumed; the result must equal the uninterrupted run bit for bit.
RUN = """\
name: aug
seed: 5
deterministic: true
data: {{kind: mnist, path: {path}, validation: 0.25, channel_axis: true}}
model:
  layers:
    - Flatten: {{}}
    - Dense: {{units: 8, activation: relu}}
    - Dense: {{units: 10, activation: softmax}}
augment: {{flip: horizontal, rotate: 0.05, translate: 0.1, contrast: 0.2, noise: 0.05}}
training: {{epochs: 2, batch_size: 16, jit_compile: false}}
output: {{plots: false}}
"""


@pytest.fixture(scope="module")
def run_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datagen import write_mnist_npz

    folder = tmp_path_factory.mktemp("augment")
    path = folder / "aug.yaml"
    path.write_text(RUN.format(path=write_mnist_npz(folder / "m.npz", n_train=96, n_test=16)))
    return path


def final_weights(run_dir: Path) -> list[np.ndarray]:
    model = keras.saving.load_model(run_dir / "checkpoints/resume/epoch-00002/model.keras")
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.slow
def test_an_augmented_run_resumes_exactly(run_config: Path, tmp_path: Path) -> None:
    from dltrain.engine.run import resume_experiment, run_experiment

    whole = run_experiment(run_config, runs_dir=tmp_path / "whole")
    assert whole.status == "completed"
    text = (whole.run_dir / "model.txt").read_text()
    assert "augment_flip" in text and "RandomFlip" in text and "augment_noise" in text

    first = run_experiment(run_config, ["training.epochs=1"], runs_dir=tmp_path / "halves")
    assert first.status == "completed" and first.epochs_completed == 1
    resumed = resume_experiment(first.run_dir, ["training.epochs=2"])
    assert resumed.status == "completed" and resumed.epochs_completed == 2

    for a, b in zip(final_weights(whole.run_dir), final_weights(first.run_dir), strict=True):
        np.testing.assert_array_equal(a, b)
    # The augmentation drew during training, and its generators' states were saved.
    points = first.run_dir / "checkpoints/resume"
    with (
        np.load(points / "epoch-00001/rng_state.npz") as one,
        np.load(points / "epoch-00002/rng_state.npz") as two,
    ):
        flip = next(key for key in one.files if key.startswith("augment_flip/"))
        assert 0 < one[flip][1] < two[flip][1]


def test_check_lists_the_layers_and_locates_problems(run_config: Path, tmp_path: Path) -> None:
    checked = runner.invoke(app, ["check", "--no-config", str(run_config)])
    assert checked.exit_code == 0, checked.output
    assert "augment_flip" in checked.output and "RandomFlip" in checked.output

    bad = tmp_path / "bad.yaml"
    bad.write_text(run_config.read_text().replace(", channel_axis: true", ""))
    refused = runner.invoke(app, ["check", "--no-config", str(bad)])
    assert refused.exit_code == 2, refused.output
    assert "augment.flip" in refused.output and "data.channel_axis: true" in refused.output
    assert "bad.yaml:10:11:" in refused.output  # where `flip` is written
