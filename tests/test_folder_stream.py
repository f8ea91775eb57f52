"""``data.stream`` for image folders: the same batches, pixels and losses as in memory.

The folder is real Fashion-MNIST pixels written as image files (see test_image_folder.py);
a streamed run must train exactly like the in-memory one, resume exactly, and find every
bad file before training.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from test_audio_folder import recordings  # noqa: F401 (a fixture)
from test_image_folder import with_bad_files, write_photos
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.config.loader import load_config
from dltrain.config.schema import FolderData
from dltrain.data.folders.decoded import Decoded
from dltrain.data.folders.stream import FileSource, check_files, decoded_bytes, streams
from dltrain.data.load import load_datasets
from dltrain.data.pipeline import ArraySource, Datasets
from dltrain.engine.run import resume_experiment, run_experiment
from dltrain.errors import DataError

runner = CliRunner()

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning:tensorflow.*")]

CONFIG = """\
name: stream
seed: 5
data:
  kind: image_folder
  path: {path}
  image_size: [12, 12]
  color_mode: grayscale
  validation: 0.25
  one_hot: {one_hot}
  stream: {stream}
model:
  layers:
    - Conv2D: {{filters: 4, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 2}}
    - Flatten: {{}}
    - Dense: {{units: 3, activation: softmax}}
loss: {loss}
optimizer: {{name: adam, learning_rate: 0.01}}
training: {{epochs: {epochs}, batch_size: 8, jit_compile: false}}
"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos") / "photos", train=16, test=4)


def _config(
    folder: Path, photos: Path, stream: str, epochs: int = 2, one_hot: bool = False
) -> Path:
    path = folder / f"stream-{stream}-{epochs}-{one_hot}.yaml"
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    path.write_text(
        CONFIG.format(
            path=photos,
            stream=stream,
            epochs=epochs,
            one_hot=str(one_hot).lower(),
            loss=loss,
        )
    )
    return path


def _datasets(folder: Path, photos: Path, stream: str, one_hot: bool = False) -> Datasets:
    loaded = load_config(_config(folder, photos, stream, one_hot=one_hot))
    return load_datasets(loaded.config)


def _losses(run_dir: Path) -> list[tuple[str, str]]:
    with (run_dir / "metrics.csv").open() as handle:
        return [(row["loss"], row["val_loss"]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def runs(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    done = {}
    for stream in ("false", "true"):
        result = run_experiment(_config(root, photos, stream), runs_dir=root / stream)
        assert result.status == "completed", result.message
        done[stream] = result.run_dir
    return done


def test_streamed_source_holds_paths_and_labels_only(photos: Path, tmp_path: Path) -> None:
    streamed = _datasets(tmp_path, photos, "true")
    source = streamed.source
    assert isinstance(source, FileSource)
    assert all(isinstance(p, Path) for paths in source.paths.values() for p in paths)
    arrays = [v for labels in source.plain.values() for v in labels]
    assert all(a.ndim == 1 and a.dtype == np.int64 for a in arrays)  # labels, no pixels
    in_memory = _datasets(tmp_path, photos, "false")
    assert isinstance(in_memory.source, ArraySource)
    assert in_memory.fingerprint.pop("stream") is False
    assert streamed.fingerprint.pop("stream") is True
    assert streamed.fingerprint == in_memory.fingerprint
    assert streamed.summary == in_memory.summary
    assert (streamed.train_size, streamed.validation_size, streamed.test_size) == (36, 12, 12)


@pytest.mark.parametrize("one_hot", [False, True])
def test_streamed_batches_are_the_in_memory_batches(
    photos: Path, tmp_path: Path, one_hot: bool
) -> None:
    streamed = _datasets(tmp_path, photos, "true", one_hot)
    in_memory = _datasets(tmp_path, photos, "false", one_hot)
    for start in (0, 1):  # a resume at epoch 1 gets the full run's epoch-1 batches
        mine, _ = streamed.train_dataset(8, seed=5, start_epoch=start, epochs=2)
        theirs, _ = in_memory.train_dataset(8, seed=5, start_epoch=start, epochs=2)
        pairs = list(zip(mine, theirs, strict=True))
        assert len(pairs) == (2 - start) * 5
        for (x, y), (x_ref, y_ref) in pairs:
            assert x.dtype == x_ref.dtype and x.shape == x_ref.shape
            np.testing.assert_array_equal(x.numpy(), x_ref.numpy())
            np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
    for (x, y), (x_ref, y_ref) in zip(
        streamed.test_dataset(5), in_memory.test_dataset(5), strict=True
    ):
        np.testing.assert_array_equal(x.numpy(), x_ref.numpy())
        np.testing.assert_array_equal(y.numpy(), y_ref.numpy())


def test_a_streamed_run_trains_exactly_like_an_in_memory_one(runs: dict[str, Path]) -> None:
    streamed, in_memory = _losses(runs["true"]), _losses(runs["false"])
    assert len(streamed) == 2
    assert streamed == in_memory
    fingerprint = json.loads((runs["true"] / "run.json").read_text())["data"]["fingerprint"]
    assert fingerprint["stream"] is True


def test_a_streamed_run_exports_only_without_verification(runs: dict[str, Path]) -> None:
    args = ["export", str(runs["true"]), "--format", "saved_model", "--no-latency"]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0
    assert "streamed from disk" in refused.output and "--no-verify" in refused.output
    exported = runner.invoke(app, [*args, "--no-verify"])
    assert exported.exit_code == 0, exported.output


def test_a_streamed_run_resumes_exactly(
    runs: dict[str, Path], photos: Path, tmp_path: Path
) -> None:
    first = run_experiment(_config(tmp_path, photos, "true", epochs=1), runs_dir=tmp_path / "r")
    assert first.status == "completed", first.message
    resumed = resume_experiment(first.run_dir, ["training.epochs=2"])
    assert resumed.status == "completed", resumed.message
    assert _losses(first.run_dir) == _losses(runs["true"])


def test_bad_files_are_found_before_streaming(photos: Path, tmp_path: Path) -> None:
    folder, truncated, text = with_bad_files(photos, tmp_path)
    with pytest.raises(DataError) as caught:
        _datasets(tmp_path, folder, "true")
    assert "2 image files cannot be read" in str(caught.value)
    assert str(truncated) in str(caught.value) and str(text) in str(caught.value)
    config = _config(tmp_path, folder, "true")
    result = runner.invoke(app, ["check", str(config), "--set", "data.bad_files=skip"])
    assert result.exit_code == 0, result.output
    assert "2 unreadable image files left out" in result.output
    skipped = load_datasets(load_config(config, ["data.bad_files=skip"]).config)
    source = skipped.source
    assert isinstance(source, FileSource)
    kept = [p for paths in source.paths.values() for p in paths]
    assert truncated not in kept and text not in kept and len(kept) == 60


def test_the_check_pass_agrees_with_decoding_at_once(
    photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dltrain.data.folders import stream
    from dltrain.data.images.decode import decode_images
    from dltrain.data.spec import InputInfo

    paths = sorted(photos.rglob("*.*"))
    paths.insert(3, photos / "missing.png")
    info = InputInfo("image", (12, 12, 1), "uint8")

    def decode(chosen: Sequence[Path]) -> Decoded:
        return decode_images(chosen, (12, 12), "grayscale", "crop")

    monkeypatch.setattr(stream, "CHECK_BYTES", decoded_bytes(info, 7))  # chunks of 7 files
    checked = check_files(decode, info, paths)
    whole = decode(paths)
    assert checked.array.shape == (0, 12, 12, 1)
    np.testing.assert_array_equal(checked.kept, whole.kept)
    assert checked.bad == whole.bad and checked.seen == whole.seen


def test_auto_streams_above_a_quarter_of_memory(photos: Path, tmp_path: Path) -> None:
    from dltrain.data.folders.stream import memory_bound

    data = load_config(_config(tmp_path, photos, "auto")).config.data
    assert isinstance(data, FolderData)
    info = _datasets(tmp_path, photos, "auto").spec.raw_inputs[0]
    per_file = decoded_bytes(info, 1)
    assert per_file == 12 * 12
    fits = memory_bound() // per_file
    assert not streams(data, info, fits)
    assert streams(data, info, fits + 1)


AUDIO = """\
name: digits
seed: 5
data:
  kind: audio_folder
  path: {path}
  label_pattern: '^(\\d+)_'
  sample_rate: 8000
  duration: 0.25
  validation: null
  stream: {stream}
model:
  layers:
    - Dense: {{units: 3, activation: softmax}}
"""


def test_streamed_recordings_are_the_in_memory_waveforms(
    recordings: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    loaded = {}
    for stream in ("false", "true"):
        config = tmp_path / f"digits-{stream}.yaml"
        config.write_text(AUDIO.format(path=recordings, stream=stream))
        loaded[stream] = load_datasets(load_config(config).config)
    assert isinstance(loaded["true"].source, FileSource)
    mine, _ = loaded["true"].train_dataset(16, seed=5, start_epoch=1, epochs=2)
    theirs, _ = loaded["false"].train_dataset(16, seed=5, start_epoch=1, epochs=2)
    for (x, y), (x_ref, y_ref) in zip(mine, theirs, strict=True):
        assert x.dtype == x_ref.dtype == "float32" and x.shape[1:] == (2000,)
        np.testing.assert_array_equal(x.numpy(), x_ref.numpy())
        np.testing.assert_array_equal(y.numpy(), y_ref.numpy())


def test_plain_16_bit_mono_recordings_stream_through_the_graph_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real recordings only (links), plus one longer than the clip and a LIST chunk: every
    # split is plain 16-bit mono, so TensorFlow decodes it; the waveforms are the in-memory
    # ones all the same.
    from test_audio_folder import FSDD, fsdd_subset

    folder = fsdd_subset(tmp_path / "plain", 6)
    (folder / "0_george_0.wav").unlink()
    data = (FSDD / "0_george_0.wav").read_bytes()
    at = data.index(b"data")
    body = data[12:at] + b"LIST" + (4).to_bytes(4, "little") + b"INFO" + data[at:]
    (folder / "0_george_0.wav").write_bytes(
        b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WAVE" + body
    )
    loaded = {}
    for stream in ("false", "true"):
        config = tmp_path / f"plain-{stream}.yaml"
        config.write_text(AUDIO.format(path=folder, stream=stream).replace("0.25", "0.5"))
        loaded[stream] = load_datasets(load_config(config).config)
    source = loaded["true"].source
    assert isinstance(source, FileSource)
    assert all(decoder is not None for decoder in source.graph.values()), source.graph
    # The Python reader is not called while the streamed batches are read.
    monkeypatch.setattr(source, "decode", lambda paths: pytest.fail("Python reader used"))
    mine, _ = loaded["true"].train_dataset(8, seed=5, start_epoch=0, epochs=2)
    theirs, _ = loaded["false"].train_dataset(8, seed=5, start_epoch=0, epochs=2)
    for (x, y), (x_ref, y_ref) in zip(mine, theirs, strict=True):
        np.testing.assert_array_equal(x.numpy(), x_ref.numpy())
        np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
    test_mine = loaded["true"].test_dataset(16)
    test_theirs = loaded["false"].test_dataset(16)
    for (x, _), (x_ref, _) in zip(test_mine, test_theirs, strict=True):
        np.testing.assert_array_equal(x.numpy(), x_ref.numpy())


def test_a_split_with_another_kind_of_recording_keeps_the_python_reader(
    recordings: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = tmp_path / "mixed.yaml"
    config.write_text(AUDIO.format(path=recordings, stream="true"))
    source = load_datasets(load_config(config).config).source
    assert isinstance(source, FileSource)
    # 2_george_0.wav is 24-bit stereo: its split is read by libsndfile, the others in the graph.
    holds = {
        name: any(p.name == "2_george_0.wav" for p in paths) for name, paths in source.paths.items()
    }
    assert {name: source.graph[name] is None for name in source.paths} == holds


def test_a_recording_spoiled_while_streaming_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras
    from test_audio_folder import fsdd_subset

    folder = fsdd_subset(tmp_path / "copies", 4, copy=True)
    config = tmp_path / "spoiled.yaml"
    config.write_text(
        AUDIO.format(path=folder, stream="true")
        + "training: {epochs: 2, batch_size: 2, jit_compile: false}\noutput: {plots: false}\n"
    )
    spoiled = folder / "1_theo_2.wav"

    class Spoil(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            for path in folder.iterdir():  # epoch 2 reads them past its few prefetched batches
                path.write_bytes(b"not a recording any more")

    with pytest.raises(DataError) as caught:
        run_experiment(config, runs_dir=tmp_path / "runs", callbacks=[Spoil()])
    text = caught.value.render()
    assert "36 recording file(s) changed since they were checked before training" in text
    assert f"{spoiled}: not a WAV file" in text and "--resume once they are back" in text
    manifest = json.loads(next((tmp_path / "runs").glob("*/*/run.json")).read_text())
    assert manifest["status"] == "failed" and str(spoiled) in manifest["error"]


def _plain_pngs(folder: Path, mode: str, size: int = 12) -> Path:
    """train/ and test/ folders of 3 classes of random ``mode`` PNGs of ``size`` (some
    interlaced, some with a text chunk), none needing a conversion."""
    from PIL import Image, PngImagePlugin

    rng = np.random.default_rng(2)
    channels = 3 if mode == "RGB" else 1
    for split, count in (("train", 12), ("test", 4)):
        for label in range(3):
            target = folder / split / f"c{label}"
            target.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (size, size, channels), dtype=np.uint8)
                image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
                info = PngImagePlugin.PngInfo()
                info.add_text("note", "dltrain")
                image.save(target / f"{index}.png", pnginfo=info, interlace=index % 2)
    return folder


@pytest.mark.parametrize(("mode", "color_mode"), [("L", "grayscale"), ("RGB", "rgb")])
def test_plain_pngs_stream_through_the_graph_decoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, color_mode: str
) -> None:
    folder = _plain_pngs(tmp_path / "pngs", mode)
    loaded = {}
    for stream in ("false", "true"):
        config = _config(tmp_path, folder, stream)
        config.write_text(config.read_text().replace("grayscale", color_mode))
        loaded[stream] = load_datasets(load_config(config).config)
    source = loaded["true"].source
    assert isinstance(source, FileSource)
    assert source.graph and all(d is not None for d in source.graph.values()), source.graph
    monkeypatch.setattr(source, "decode", lambda paths: pytest.fail("Pillow used"))
    mine, _ = loaded["true"].train_dataset(8, seed=5, start_epoch=0, epochs=2)
    theirs, _ = loaded["false"].train_dataset(8, seed=5, start_epoch=0, epochs=2)
    for (x, y), (x_ref, y_ref) in zip(mine, theirs, strict=True):
        assert x.dtype == x_ref.dtype == "uint8"
        np.testing.assert_array_equal(x.numpy(), x_ref.numpy())
        np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
    for (x, _), (x_ref, _) in zip(
        loaded["true"].test_dataset(5), loaded["false"].test_dataset(5), strict=True
    ):
        np.testing.assert_array_equal(x.numpy(), x_ref.numpy())


def test_pngs_that_need_pillow_keep_it(tmp_path: Path) -> None:
    from PIL import Image

    folder = _plain_pngs(tmp_path / "pngs", "L")
    # Another size (resized), an RGB file read as grayscale (luma), and transparency.
    odd = [folder / "test" / "c0" / "0.png", folder / "test" / "c1" / "0.png"]
    odd.append(folder / "train" / "c2" / "0.png")
    Image.new("L", (20, 12)).save(odd[0])
    Image.new("RGB", (12, 12), (9, 90, 200)).save(odd[1])
    Image.new("L", (12, 12)).save(odd[2], transparency=0)
    source = _datasets(tmp_path, folder, "true").source
    assert isinstance(source, FileSource)
    # A split holding one of them is read by Pillow; the other split (train/ is cut into
    # train and validation) still streams through the graph.
    holds = {name: any(p in odd for p in paths) for name, paths in source.paths.items()}
    assert holds["test"] and sum(holds.values()) == 2
    assert {name: source.graph[name] is None for name in source.paths} == holds
