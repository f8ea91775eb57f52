"""MNIST-format parsing and locating (no TensorFlow needed)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datagen import make_images, write_idx, write_mnist_idx_dir, write_mnist_npz

from dltrain.config import config_from_dict
from dltrain.config.schema import ExperimentConfig, MnistData
from dltrain.data import describe_data, mnist
from dltrain.data.idx import read_idx, read_idx_pair, read_npz
from dltrain.data.mnist import load_image_file, load_mnist
from dltrain.errors import DataError


def _config(**data: object) -> ExperimentConfig:
    body = {"data": {"kind": "mnist", **data}, "model": {"layers": ["Flatten"]}}
    return config_from_dict(body).config


def _data(cfg: ExperimentConfig) -> MnistData:
    assert isinstance(cfg.data, MnistData)
    return cfg.data


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_raw_and_gz(tmp_path: Path, gz: bool) -> None:
    folder = write_mnist_idx_dir(tmp_path / "idx", n_train=30, n_test=10, gz=gz)
    arrays = load_mnist(_data(_config(path=str(folder))))
    assert arrays.x_train.shape == (30, 28, 28) and arrays.x_train.dtype == np.uint8
    assert arrays.y_test.shape == (10,)
    expected, _ = make_images(30, seed=1)
    np.testing.assert_array_equal(arrays.x_train, expected)
    assert len(arrays.files) == 4


def test_npz(tmp_path: Path) -> None:
    path = write_mnist_npz(tmp_path / "m.npz", n_train=20, n_test=8)
    arrays = load_mnist(_data(_config(path=str(path))))
    assert arrays.x_train.shape == (20, 28, 28) and arrays.x_test.shape == (8, 28, 28)
    assert arrays.files == [path]


def test_truncated_idx_names_file_and_sizes(tmp_path: Path) -> None:
    images, _ = make_images(256)
    path = write_idx(tmp_path / "train-images-idx3-ubyte", images, gz=True)
    blob = gzip.decompress(path.read_bytes())[: 16 + 1200]
    path.write_bytes(gzip.compress(blob))
    with pytest.raises(DataError) as err:
        read_idx(path, 3)
    assert str(err.value) == (
        "train-images-idx3-ubyte.gz: truncated: header says 256×28×28 = 200704 bytes, file has 1200"
    )


def test_bad_magic(tmp_path: Path) -> None:
    labels = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(
        DataError,
        match=r"not an IDX images file: magic number is 0x00000801, "
        r"expected 0x00000803",
    ):
        read_idx(path, 3)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "labels", np.zeros(5, dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"xx")
    with pytest.raises(DataError, match=r"labels: too long: header says 5 = 5 bytes, file has 7"):
        read_idx(path, 1)


def test_bad_gzip(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00" * 100)[:20])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz: bad gzip data"):
        read_idx(path, 1)
    path.write_bytes(b"plain text")
    with pytest.raises(DataError, match="not a gzip file"):
        read_idx(path, 1)


def test_label_out_of_range_and_count_mismatch(tmp_path: Path) -> None:
    images, labels = make_images(12)
    img = write_idx(tmp_path / "img", images)
    bad = labels.copy()
    bad[7] = 10
    lab = write_idx(tmp_path / "lab", bad)
    with pytest.raises(DataError, match=r"lab: label 10 at index 7 is outside 0..9"):
        read_idx_pair(img, lab)
    lab = write_idx(tmp_path / "lab", labels[:11])
    with pytest.raises(DataError, match=r"img has 12 images but lab has 11 labels"):
        read_idx_pair(img, lab)


@pytest.mark.parametrize("gz", [False, True])
def test_limit_reads_only_the_first_records(
    tmp_path: Path, gz: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_mnist_idx_dir(tmp_path / "idx", n_train=300, n_test=80, gz=gz)
    full = load_mnist(MnistData(kind="mnist", path=str(folder)))
    from dltrain.data import idx

    def whole_file(path: Path) -> bytes:
        raise AssertionError(f"{path.name} was read whole")

    monkeypatch.setattr(idx, "_read_bytes", whole_file)  # data.limit must not need it
    part = load_mnist(MnistData(kind="mnist", path=str(folder), limit=50))
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name)[:50])
    big = load_mnist(MnistData(kind="mnist", path=str(folder), limit=1000))  # beyond: everything
    assert len(big.x_train) == 300 and len(big.x_test) == 80


@pytest.mark.parametrize("gz", [False, True])
def test_limit_still_checks_the_files_against_their_headers(tmp_path: Path, gz: bool) -> None:
    images, labels = make_images(12)
    img = write_idx(tmp_path / "img", images, gz=gz)
    blob = gzip.decompress(img.read_bytes()) if gz else img.read_bytes()
    cut = blob[: 16 + 28 * 28 * 5]
    img.write_bytes(gzip.compress(cut) if gz else cut)  # 5 of the 12 images the header states
    with pytest.raises(DataError, match=r"truncated: header says 12×28×28 = 9408 bytes, file has 3920"):
        read_idx(img, 3, limit=2)
    img = write_idx(tmp_path / "img", images, gz=gz)
    lab = write_idx(tmp_path / "lab", labels[:11], gz=gz)
    with pytest.raises(DataError, match=r"has 12 images but lab.* has 11 labels"):
        read_idx_pair(img, lab, limit=3)
    damaged = gzip.compress(blob)[:-30] + b"\0" * 30 if gz else blob + b"xx"
    img.write_bytes(damaged)
    with pytest.raises(DataError, match=r"bad gzip data|too long"):
        read_idx(img, 3, limit=2)


def test_wrong_image_size(tmp_path: Path) -> None:
    img = write_idx(tmp_path / "img", np.zeros((3, 32, 32), dtype=np.uint8))
    with pytest.raises(
        DataError,
        match=r"expected images of shape \(n, 28, 28\); received "
        r"shape \(3, 32, 32\)",
    ):
        read_idx_pair(img, write_idx(tmp_path / "lab", np.zeros(3, dtype=np.uint8)))


def test_npz_missing_keys_lists_what_it_has(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    np.savez(path, x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2, np.uint8))
    with pytest.raises(DataError) as err:
        read_npz(path)
    assert "m.npz: missing x_test, y_test; it has x_train, y_train" in str(err.value)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz: not a readable .npz archive"):
        read_npz(tmp_path / "junk.npz")


def test_idx_folder_missing_file(tmp_path: Path) -> None:
    folder = write_mnist_idx_dir(tmp_path / "idx", 10, 5)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing IDX file\(s\) t10k-labels-idx1-ubyte"):
        load_mnist(_data(_config(path=str(folder))))


def test_data_path_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_mnist(_data(_config(path=str(tmp_path / "nope.npz"))))


def test_search_order_env_then_cache_then_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_sources: list[str]
) -> None:
    cfg = _data(_config(kind="fashion_mnist"))
    system = write_mnist_idx_dir(tmp_path / "system" / "fashion-mnist", 10, 5)
    assert load_mnist(cfg).source == str(system)
    cache = write_mnist_idx_dir(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist", 11, 5)
    assert load_mnist(cfg).source == str(cache)
    env = tmp_path / "env"
    write_mnist_npz(env / "fashion_mnist.npz", 12, 5)
    monkeypatch.setenv("DLTRAIN_DATA_DIR", str(env))
    arrays = load_mnist(cfg)
    assert arrays.source == str(env / "fashion_mnist.npz") and len(arrays.x_train) == 12
    assert no_sources == []


def test_env_dir_with_idx_files_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_sources: list[str]
) -> None:
    env = write_mnist_idx_dir(tmp_path / "env", 9, 4, gz=False)
    monkeypatch.setenv("DLTRAIN_DATA_DIR", str(env))
    assert len(load_mnist(_data(_config())).x_train) == 9


def test_keras_cache_mnist_npz(tmp_path: Path, no_sources: list[str]) -> None:
    write_mnist_npz(tmp_path / "home" / ".keras" / "datasets" / "mnist.npz", 7, 3)
    assert len(load_mnist(_data(_config())).x_train) == 7


def test_offline_error_lists_places_and_fix(tmp_path: Path, no_sources: list[str]) -> None:
    with pytest.raises(DataError) as err:
        load_mnist(_data(_config(kind="fashion_mnist")))
    text = str(err.value)
    assert no_sources == ["fashion_mnist"]
    assert "fashion_mnist data not found and the Keras download failed" in text
    assert "network is unreachable" in text
    assert str(tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist") in text
    assert str(tmp_path / "system" / "fashion-mnist") in text
    assert "$DLTRAIN_DATA_DIR (not set)" in text
    assert "train-images-idx3-ubyte.gz" in text and "data.path" in text


def test_download_fills_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_sources: list[str]
) -> None:
    def fake_download(kind: str) -> None:
        write_mnist_npz(tmp_path / "home" / ".keras" / "datasets" / "mnist.npz", 6, 2)

    monkeypatch.setattr(mnist, "_download", fake_download)
    assert len(load_mnist(_data(_config())).x_train) == 6


def test_describe_data_without_files() -> None:
    spec = describe_data(_config(kind="fashion_mnist", path="/nonexistent.npz", one_hot=False))
    assert spec is not None
    assert spec.raw_inputs[0].shape == (28, 28) and spec.preprocess is None
    target = spec.targets[0]
    assert target.num_classes == 10 and not target.one_hot
    assert target.class_names is not None and target.class_names[:2] == ("T-shirt/top", "Trouser")
    assert target.class_names[-1] == "Ankle boot"
    spec = describe_data(_config(channel_axis=True))
    assert spec is not None and spec.raw_inputs[0].shape == (28, 28, 1)
    assert spec.targets[0].class_names == tuple("0123456789")


def test_load_image_file_variants(tmp_path: Path) -> None:
    folder = write_mnist_idx_dir(tmp_path / "idx", 10, 4, gz=True)
    images, labels = load_image_file(folder, labels=True)
    assert images.shape == (4, 28, 28) and labels is not None and labels.shape == (4,)
    images, labels = load_image_file(folder / "train-images-idx3-ubyte.gz", labels=True)
    assert images.shape == (10, 28, 28) and labels is not None
    npz = tmp_path / "only_x.npz"
    np.savez(npz, x_train=np.zeros((3, 28, 28), np.uint8))
    images, labels = load_image_file(npz, labels=False)
    assert images.shape == (3, 28, 28) and labels is None
    with pytest.raises(DataError, match="needs x_test and y_test"):
        load_image_file(npz, labels=True)


def test_parsing_does_not_import_tensorflow(tmp_path: Path) -> None:
    npz = write_mnist_npz(tmp_path / "m.npz", 5, 2)
    code = (
        "import sys; from pathlib import Path; import dltrain.data;"
        "from dltrain.data.idx import read_npz;"
        f"read_npz(Path({str(npz)!r}));"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def _gzip_cases() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes() + b"\0" * 300_000
    blob = gzip.compress(data)
    bad_crc = blob[:-8] + bytes([blob[-8] ^ 1]) + blob[-7:]
    return {
        "one member": blob,
        "two members": blob + gzip.compress(b"abc" * 1000),
        "zero padding": blob + b"\0" * 100,
        "cut in the data": blob[: len(blob) // 2],
        "cut in the trailer": blob[:-3],
        "bad crc": bad_crc,
        "garbage after": blob + b"xyz",
    }


@pytest.mark.parametrize("feed", [7, 1000, 1 << 20])
@pytest.mark.parametrize("case", list(_gzip_cases()))
def test_the_inflating_reader_reads_what_gzipfile_reads(
    case: str, feed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes, member by member, or a failure where GzipFile fails (its type aside)."""
    import io
    import zlib

    from dltrain.data import idx

    monkeypatch.setattr(idx, "_INFLATE_INPUT", feed)
    blob = _gzip_cases()[case]
    for sizes in ([16, 10**6], [3, 5, 10**7], [10**7, 10]):
        results = []
        for reader in (gzip.GzipFile(fileobj=io.BytesIO(blob), mode="rb"), idx._Gunzipped(io.BytesIO(blob))):
            out: list[object] = []
            try:
                out += [reader.read(n) for n in sizes]
            except (EOFError, OSError, zlib.error):
                out.append("failed")
            results.append(out)
        gzipfile, ours = results
        if "failed" in gzipfile:  # the same bytes up to the failure; it may come a read sooner
            assert ours[-1] == "failed" and b"".join(ours[:-1]) == b"".join(gzipfile[: len(ours) - 1])  # type: ignore[arg-type]
        else:
            assert ours == gzipfile
