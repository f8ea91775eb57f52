"""Finding and loading MNIST-format image data (MNIST, Fashion-MNIST).

Sources are tried in a fixed order (``data.path``, ``$DLTRAIN_DATA_DIR``, the Keras cache,
``/usr/share/datasets``, a Keras download) so that offline machines with the data installed
never touch the network, and the error when nothing is found says where to put which file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dltrain.config.schema import MnistData
from dltrain.data.config_keys import about
from dltrain.data.files import check_data_file
from dltrain.data.idx import (
    IMAGE_SIZE,
    NUM_CLASSES,
    check_images,
    read_idx,
    read_idx_pair,
    read_npz,
)
from dltrain.data.spec import DataSpec, InputInfo, TargetInfo
from dltrain.errors import DataError

__all__ = [
    "IDX_FILES",
    "MnistArrays",
    "describe_mnist",
    "image_source",
    "find_idx_files",
    "found_without_download",
    "load_mnist",
    "load_image_file",
    "load_mnist_file",
    "locate_mnist",
]

SYSTEM_DATA_DIR = Path("/usr/share/datasets")
"""Where Debian's dataset packages install data (module attribute so tests can move it)."""

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_CLASS_NAMES = {
    "mnist": tuple(str(d) for d in range(NUM_CLASSES)),
    "fashion_mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip
_DIR_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}

INPUT_NAME = "image"
TARGET_NAME = "label"


@dataclass
class MnistArrays:
    """Images (uint8, n×28×28) and labels (uint8 class indices) of both splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    files: list[Path] = field(default_factory=list)
    source: str = ""


def describe_mnist(data: MnistData) -> DataSpec:
    """The spec implied by the config alone (no file access)."""
    shape: tuple[int | None, ...] = (IMAGE_SIZE, IMAGE_SIZE)
    if data.channel_axis:
        shape = (*shape, 1)
    image = InputInfo(INPUT_NAME, shape, "float32")
    target = TargetInfo(
        TARGET_NAME,
        "multiclass",
        num_classes=NUM_CLASSES,
        class_names=_CLASS_NAMES[data.kind],
        one_hot=data.one_hot,
    )
    return DataSpec(data.kind, [image], [image], [target])


def find_idx_files(folder: Path, split: str | None = None) -> dict[str, Path]:
    """The IDX files present in ``folder`` (raw name or ``.gz``), keyed as in :data:`IDX_FILES`."""
    found = {}
    for key, name in IDX_FILES.items():
        if split is not None and not key.startswith(split):
            continue
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
    return found


def _check_idx_folder(folder: Path) -> dict[str, Path]:
    files = find_idx_files(folder)
    missing = [IDX_FILES[k] for k in IDX_FILES if k not in files]
    if missing:
        raise DataError(
            f"{folder}: missing IDX file(s) {', '.join(missing)} (raw or .gz); the folder "
            f"needs {', '.join(IDX_FILES.values())}"
        )
    return files


def _load_idx_folder(folder: Path, limit: int | None = None) -> MnistArrays:
    files = _check_idx_folder(folder)
    x_train, y_train = read_idx_pair(files["train_images"], files["train_labels"], limit)
    x_test, y_test = read_idx_pair(files["test_images"], files["test_labels"], limit)
    return MnistArrays(x_train, y_train, x_test, y_test, list(files.values()), str(folder))


def _load_npz(path: Path) -> MnistArrays:
    splits = read_npz(path)
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    return MnistArrays(x_train, y_train, x_test, y_test, [path], str(path))


def _keras_cache() -> Path:
    # Keras honours KERAS_HOME before ~/.keras; look where its download would put the files.
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path.home() / ".keras") / "datasets"


def _candidates(kind: str) -> tuple[list[tuple[str, Path]], list[str]]:
    """(what to try, in order) as ("npz" | "idx", path), and lines describing unset places."""
    dir_name = _DIR_NAMES[kind]
    tries: list[tuple[str, Path]] = []
    notes: list[str] = []
    env = os.environ.get("DLTRAIN_DATA_DIR")
    if env:
        base = Path(env).expanduser()
        tries += [("npz", base / f"{kind}.npz"), ("npz", base / f"{dir_name}.npz")]
        tries += [("idx", base / kind), ("idx", base / dir_name), ("idx", base)]
    else:
        notes.append("$DLTRAIN_DATA_DIR (not set)")
    cache = _keras_cache()
    tries.append(("npz", cache / "mnist.npz") if kind == "mnist" else ("idx", cache / dir_name))
    tries.append(("idx", SYSTEM_DATA_DIR / dir_name))
    return list(dict.fromkeys(tries)), notes


def _found(how: str, path: Path) -> bool:
    if how == "npz":
        return path.is_file()
    return path.is_dir() and len(find_idx_files(path)) == len(IDX_FILES)


def _download(kind: str) -> None:
    """Let Keras download the data set into its cache (module function so tests can stub it)."""
    import keras  # deferred: only this last-resort path needs Keras

    getattr(keras.datasets, kind).load_data()


def found_without_download(data: MnistData) -> bool:
    """Whether :func:`load_mnist` reads ``data`` from a path given or found on this machine,
    without the Keras download (which imports Keras)."""
    return data.path is not None or _found_here(_candidates(data.kind)[0]) is not None


def _found_here(tries: list[tuple[str, Path]]) -> tuple[str, Path] | None:
    """The first of ``tries`` that holds the data, or None."""
    return next(((how, path) for how, path in tries if _found(how, path)), None)


def locate_mnist(data: MnistData) -> tuple[str, Path]:
    """Where :func:`load_mnist` reads from, as (``"npz"`` | ``"idx"``, path), reading no images.

    Tries the places in order and, when none has the data, a Keras download, exactly as
    :func:`load_mnist` does (``dltrain check`` calls this so it finds data as ``run`` would).

    Raises:
        DataError: ``data.path`` is missing or incomplete, or nothing was found and the
            download failed (the message lists every place looked at and what to put where).
    """
    if data.path is not None:
        with about(("data", "path")):
            return _locate_file(Path(data.path))
    tries, notes = _candidates(data.kind)
    found = _found_here(tries)
    if found is not None:
        return found
    try:
        _download(data.kind)
    except Exception as exc:  # noqa: BLE001 - network failures come in many types
        raise DataError(_not_found_message(data.kind, tries, notes, exc)) from None
    found = _found_here(tries)
    if found is None:
        raise DataError(_not_found_message(data.kind, tries, notes, None))
    return found


def load_mnist(data: MnistData) -> MnistArrays:
    """Images and labels of both splits from the first source that has them (the first
    ``data.limit`` of each: IDX files are read no further).

    Raises:
        DataError: a source is corrupt, or nothing was found and the download failed (the
            message lists every place looked at and what to put where).
    """
    how, path = locate_mnist(data)
    return _load_npz(path) if how == "npz" else _load_idx_folder(path, data.limit or None)


def load_mnist_file(path: Path) -> MnistArrays:
    """Both splits from an explicit ``.npz`` or IDX folder (``data.path``)."""
    how, found = _locate_file(path)
    return _load_npz(found) if how == "npz" else _load_idx_folder(found)


def _locate_file(path: Path) -> tuple[str, Path]:
    """How to read an explicit ``data.path``; an IDX folder must hold all four files."""
    if path.is_dir():
        npz = [p for p in (path / "mnist.npz", path / "fashion_mnist.npz") if p.is_file()]
        if npz and not find_idx_files(path):
            return "npz", npz[0]
        _check_idx_folder(path)
        return "idx", path
    if not path.exists():
        raise DataError(
            f"{path}: not found (data.path must be a Keras-layout .npz or a folder of IDX files)"
        )
    check_data_file(path, "a Keras-layout .npz or a folder of IDX files")
    if path.suffix != ".npz" and _magic(path) != b"PK":
        # One IDX file (or anything else) would reach np.load, whose "pickled data" error
        # suggests allow_pickle: name what data.path takes instead.
        raise DataError(
            f"{path}: not a .npz archive; data.path takes a folder holding the four IDX "
            f"files ({', '.join(IDX_FILES.values())}, raw or .gz) or a Keras-layout .npz "
            "(x_train, y_train, x_test, y_test)"
        )
    return "npz", path


def _not_found_message(
    kind: str, tries: list[tuple[str, Path]], notes: list[str], exc: Exception | None
) -> str:
    dir_name = _DIR_NAMES[kind]
    looked = [f"  - {p}{'/' if how == 'idx' else ''}" for how, p in tries] + [
        f"  - {n}" for n in notes
    ]
    failed = (
        f"the Keras download failed ({type(exc).__name__}: {exc})"
        if exc
        else ("the Keras download did not leave files where expected")
    )
    idx_names = ", ".join(f"{n}.gz" for n in IDX_FILES.values())
    cache = _keras_cache()
    if kind == "mnist":
        fix = (
            f"put mnist.npz (Keras layout: x_train, y_train, x_test, y_test) into {cache}/ or "
            "$DLTRAIN_DATA_DIR, "
        )
    else:
        fix = f"put the four IDX files ({idx_names}) into {cache / dir_name}/, "
    fix += f"or set data.path to a Keras-layout .npz or a folder with {idx_names}"
    text = f"{kind} data not found and {failed}.\nLooked in:\n" + "\n".join(looked)
    fashion = SYSTEM_DATA_DIR / _DIR_NAMES["fashion_mnist"]
    if kind == "mnist" and _found("idx", fashion):
        # The README's offline first run: Debian's package is the data most likely at hand.
        text += (
            f"\nQuickest fix: Fashion-MNIST is installed in {fashion}; train on it instead "
            "with --set data.kind=fashion_mnist"
        )
    elif kind == "mnist":
        text += (
            "\nQuickest fix offline: install Fashion-MNIST (apt-get install "
            "dataset-fashion-mnist) and train on it with --set data.kind=fashion_mnist"
        )
    return text + f"\nFix: {fix}"


def load_image_file(path: Path, *, labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (and labels when ``labels``) of ONE split from another MNIST-format source.

    Accepts a ``.npz`` with ``x_test`` (or else ``x_train``), a folder of IDX files (the
    ``t10k`` pair, or else the ``train`` pair), or one IDX images file (its labels file is the
    sibling with ``images``/``idx3`` replaced by ``labels``/``idx1``).

    Raises:
        DataError: not found, unreadable, or labels needed but absent.
    """
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        for split in ("test", "train"):
            files = find_idx_files(path, split)
            if len(files) == 2 or (files and not labels and f"{split}_images" in files):
                images_path = files[f"{split}_images"]
                labels_path = files.get(f"{split}_labels")
                if labels and labels_path is None:
                    break
                return _read_split(images_path, labels_path if labels else None)
        raise DataError(f"{path}: no t10k-/train- IDX images and labels files in this folder")
    check_data_file(path, "a .npz, a folder of IDX files or an IDX images file")
    if path.suffix == ".npz" or _magic(path) == b"PK":
        return _npz_split(path, labels)
    labels_path = path.with_name(path.name.replace("images", "labels").replace("idx3", "idx1"))
    if labels and (labels_path == path or not labels_path.is_file()):
        raise DataError(
            f"{path.name}: labels file {labels_path.name} not found next to the images file"
        )
    return _read_split(path, labels_path if labels else None)


def image_source(path: Path) -> str:
    """Which images :func:`load_image_file` (without labels) reads from ``path``, in words.

    A folder or ``.npz`` holding a whole data set gives its test split (or, without one, its
    training split); callers say so, since the user may have meant the other.
    """
    if path.is_dir():
        for split, name in (("test", "test"), ("train", "training")):
            files = find_idx_files(path, split)
            if f"{split}_images" in files:
                return f"the {name} split ({files[f'{split}_images'].name})"
    elif path.suffix == ".npz" or _magic(path) == b"PK":
        try:
            with np.load(path, allow_pickle=False) as archive:
                keys = set(archive.files)
        except (OSError, ValueError, EOFError):
            keys = set()
        if "x_test" in keys:
            return "the test split (x_test)"
        if "x_train" in keys:
            return "the training split (x_train)"
    return "the images file"


def _magic(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(2)
    except OSError:
        return b""


def _read_split(images: Path, labels: Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    if labels is not None:
        return read_idx_pair(images, labels)
    return check_images(read_idx(images, 3), images.name), None


def _npz_split(path: Path, labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path.name}: not a readable .npz archive ({exc})") from None
    for split in ("test", "train"):
        if f"x_{split}" in keys and (f"y_{split}" in keys or not labels):
            if labels:
                return read_npz(path, (split,))[split]
            with np.load(path, allow_pickle=False) as archive:
                return check_images(archive[f"x_{split}"], f"{path.name}: x_{split}"), None
    need = "x_test and y_test (or x_train and y_train)" if labels else "x_test or x_train"
    raise DataError(f"{path.name}: needs {need}; it has {', '.join(sorted(keys)) or 'nothing'}")
