"""``loading_ahead``: the data loaded in a thread while TensorFlow is imported gives what a
load in place gives, raises what it raises, and leaves no thread behind."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datagen import write_mnist_idx_dir
from tune_configs import BASE

from dltrain.config import load_config
from dltrain.config.schema import ExperimentConfig
from dltrain.data import Datasets, load_datasets
from dltrain.data.ahead import loading_ahead
from dltrain.data.sharing import sharing_datasets
from dltrain.errors import DataError

ahead_module = importlib.import_module("dltrain.data.ahead")


@pytest.fixture
def csv_config(tmp_path: Path, regression_csv: Path) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(BASE.format(csv=regression_csv))
    return path


@pytest.fixture
def loaded_by(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each load ran in."""
    names: list[str] = []

    def recording(config: ExperimentConfig, **kwargs: Any) -> Datasets:
        names.append(threading.current_thread().name)
        return load_datasets(config, **kwargs)

    monkeypatch.setattr(ahead_module, "load_datasets", recording)
    return names


def _same(got: Any, want: Any) -> None:
    """Equal nested dicts and lists of arrays."""
    if isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            _same(got[key], want[key])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            _same(a, b)
    else:
        np.testing.assert_array_equal(got, want)


def _arrays(datasets: Datasets) -> dict[str, Any]:
    source: Any = datasets.source
    return {"x": source.x, "y": source.y, "plain": source.plain}


@pytest.mark.parametrize("kind", ["csv", "mnist"])
def test_the_thread_loads_what_a_load_in_place_gives(
    kind: str, csv_config: Path, tmp_path: Path, loaded_by: list[str]
) -> None:
    if kind == "csv":
        loaded = load_config(csv_config)
    else:
        folder = write_mnist_idx_dir(tmp_path / "idx", n_train=120, n_test=40)
        loaded = load_config(csv_config, ["data={kind: mnist, path: " + str(folder) + "}"])
    with loading_ahead(loaded.config, source=loaded.source, thread=True) as datasets:
        ahead = datasets()
    in_place = load_datasets(loaded.config, source=loaded.source)
    assert loaded_by[0].startswith("dltrain-data")
    assert ahead.fingerprint == in_place.fingerprint and ahead.spec == in_place.spec
    _same(_arrays(ahead), _arrays(in_place))


def test_a_data_error_in_the_thread_is_raised_by_the_getter_located_as_in_place(
    tmp_path: Path, loaded_by: list[str]
) -> None:
    config = tmp_path / "missing.yaml"
    config.write_text(BASE.format(csv=tmp_path / "missing.csv"))
    loaded = load_config(config)
    with pytest.raises(DataError) as in_place:
        load_datasets(loaded.config, source=loaded.source)
    with loading_ahead(loaded.config, source=loaded.source, thread=True) as datasets:
        with pytest.raises(DataError) as ahead:
            datasets()
    assert str(ahead.value) == str(in_place.value)
    message = str(ahead.value)
    assert "missing.yaml:3:19: data.path:" in message and "missing.csv: file not found" in message
    assert loaded_by[0].startswith("dltrain-data")


def test_leaving_the_block_on_an_error_waits_for_the_load_and_drops_its_error(
    csv_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished: list[bool] = []

    def slow(config: ExperimentConfig, **kwargs: Any) -> Datasets:
        time.sleep(0.3)
        finished.append(True)
        raise DataError("never seen")

    monkeypatch.setattr(ahead_module, "load_datasets", slow)
    loaded = load_config(csv_config)
    with pytest.raises(RuntimeError, match="the strategy failed first"):
        with loading_ahead(loaded.config, thread=True):
            raise RuntimeError("the strategy failed first")
    assert finished == [True]  # the load ended before the block was left


def test_a_tuning_studys_shared_data_goes_with_the_thread(
    csv_config: Path, loaded_by: list[str]
) -> None:
    config = load_config(csv_config).config
    with sharing_datasets() as share:
        with loading_ahead(config, thread=True) as datasets:
            first = datasets()
        again = load_datasets(config)
    assert share.loads == 1 and share.reuses == 1
    assert again.source is first.source


def test_without_a_thread_the_getter_loads_in_place(
    csv_config: Path, loaded_by: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(csv_config).config
    with loading_ahead(config, thread=False) as datasets:
        assert loaded_by == []  # nothing started before it is asked for
        datasets()
    # TensorFlow imported already: nothing to overlap, so no thread either.
    monkeypatch.setitem(importlib.import_module("sys").modules, "tensorflow", object())
    with loading_ahead(config) as datasets:
        datasets()
    assert loaded_by == ["MainThread", "MainThread"]


def test_ctrl_c_in_the_block_does_not_wait_for_the_load(
    csv_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    daemon: list[bool] = []

    def stuck(config: ExperimentConfig, **kwargs: Any) -> Datasets:
        daemon.append(threading.current_thread().daemon)
        entered.set()
        release.wait(10)
        raise DataError("never seen")

    monkeypatch.setattr(ahead_module, "load_datasets", stuck)
    loaded = load_config(csv_config)
    started = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            with loading_ahead(loaded.config, thread=True):
                raise KeyboardInterrupt
        assert time.perf_counter() - started < 5
        assert entered.wait(5) and daemon == [True]  # the process may end: the thread is a daemon
    finally:
        release.set()


RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "fsdd" / "recordings"

PROBE = """
import json, sys
from pathlib import Path
from dltrain.config import load_config
from dltrain.data import load_datasets
from dltrain.data.ahead import reads_without_tensorflow
out = []
for path in sys.argv[1:]:
    config = load_config(Path(path)).config
    datasets = load_datasets(config)
    out.append([path, reads_without_tensorflow(config), datasets.train_size])
print(json.dumps([out, sorted(m for m in ("tensorflow", "keras") if m in sys.modules)]))
"""


def test_every_kind_that_goes_to_the_thread_loads_without_importing_tensorflow(
    tmp_path: Path, regression_csv: Path
) -> None:
    """A load in the thread that imported TensorFlow beside the main thread's import would be
    handed a half-initialized module; each kind sent there is loaded in a fresh interpreter."""
    from PIL import Image

    for split, count in (("train", 6), ("test", 3)):
        for label in ("a", "b"):
            folder = tmp_path / "photos" / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                Image.new("L", (8, 8), 40 * i).save(folder / f"{i}.png")
    idx = write_mnist_idx_dir(tmp_path / "idx", n_train=60, n_test=20)
    configs = {
        "csv.yaml": BASE.format(csv=regression_csv),
        "mnist.yaml": f"data: {{kind: mnist, path: {idx}}}\nmodel: {{layers: [Flatten]}}\n",
        "images.yaml": (
            f"data: {{kind: image_folder, path: {tmp_path / 'photos'}, image_size: [8, 8], "
            "color_mode: grayscale}\nmodel: {layers: [Flatten]}\n"
        ),
        "audio.yaml": (
            f"data: {{kind: audio_folder, path: {RECORDINGS}, label_pattern: '^(\\d+)_', "
            "group_pattern: '^\\d+_([a-z]+)_', sample_rate: 8000, duration: 1.0, test: 0.2}\n"
            "model: {layers: [Flatten]}\n"
        ),
    }
    paths = []
    for name, text in configs.items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *paths], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    loads, imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [(Path(p).name, thread) for p, thread, _ in loads] == [(n, True) for n in configs]
    assert all(size > 0 for _, _, size in loads)
    assert imported == []


def test_loads_that_import_tensorflow_stay_out_of_the_thread(
    csv_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dltrain.data.ahead import reads_without_tensorflow

    assert reads_without_tensorflow(load_config(csv_config).config)
    text = load_config(csv_config, ["data.text=[color]", "data.categorical=[]"]).config
    streamed = load_config(csv_config, ["data.stream=true"]).config
    assert not reads_without_tensorflow(text)  # Keras's TextVectorization adapts it
    assert not reads_without_tensorflow(streamed)
    # MNIST that is nowhere on this machine: Keras would download it.
    monkeypatch.setenv("DLTRAIN_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    mnist = importlib.import_module("dltrain.data.mnist")
    monkeypatch.setattr(mnist, "SYSTEM_DATA_DIR", tmp_path / "none")
    nowhere = load_config(csv_config, ["data={kind: mnist}"]).config
    assert not reads_without_tensorflow(nowhere)
