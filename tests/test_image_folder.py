"""`kind: image_folder` end to end on real pixels: check, run, predict, export, resume.

The folder is Fashion-MNIST written as image files (PNG, JPEG, BMP, GIF, an RGBA and a 16-bit
PNG among them), as a user's own photos would be; one run is trained per module and shared.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
from pathlib import Path

import numpy as np
import pytest
from datagen import make_images
from PIL import Image
from probes import EXPORT_NOISE, killed_after_epoch_one
from typer.testing import CliRunner

from dltrain.cli import app
from dltrain.engine.run import run_experiment

runner = CliRunner()

pytestmark = [pytest.mark.slow, *EXPORT_NOISE]

FASHION = Path("/usr/share/datasets/fashion-mnist")
CLASSES = {0: "T-shirt", 1: "Trouser", 8: "Bag"}

CONFIG = """\
name: photos
seed: 3
data:
  kind: image_folder
  path: {path}
  image_size: [16, 16]
  color_mode: grayscale
  validation: 0.25
augment: {{flip: horizontal}}
model:
  layers:
    - Conv2D: {{filters: 4, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 2}}
    - Flatten: {{}}
    - Dense: {{units: 3, activation: softmax}}
optimizer: {{name: adam, learning_rate: 0.01}}
training: {{epochs: {epochs}, batch_size: {batch}, jit_compile: false}}
"""


def _pixels(n_per_class: int) -> dict[str, np.ndarray]:
    """Real Fashion-MNIST images per class (generated ones where the package is absent)."""
    if (FASHION / "train-images-idx3-ubyte.gz").is_file():
        from dltrain.data.idx import read_idx_pair

        images, labels = read_idx_pair(
            FASHION / "train-images-idx3-ubyte.gz", FASHION / "train-labels-idx1-ubyte.gz", 2000
        )
    else:
        images, labels = make_images(2000)
    return {
        name: images[np.flatnonzero(labels == index)[:n_per_class]]
        for index, name in CLASSES.items()
    }


def write_photos(root: Path, train: int = 40, test: int = 10) -> Path:
    """Layout A (train/ and test/, a folder per class), in mixed formats and modes."""
    for name, images in _pixels(train + test).items():
        for split, part in (("train", images[:train]), ("test", images[train:])):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, pixels in enumerate(part):
                image = Image.fromarray(pixels)
                if i % 5 == 1:
                    image.save(folder / f"{i:03d}.jpg", quality=95)
                elif i % 5 == 2:
                    image.convert("RGBA").save(folder / f"{i:03d}.png")
                elif i % 5 == 3:
                    wide = (pixels.astype(np.uint16) * 257).astype(np.uint16)
                    Image.fromarray(wide).save(folder / f"{i:03d}.png")
                elif i % 10 == 4:
                    image.save(folder / f"{i:03d}.gif")
                elif i % 10 == 9:
                    image.save(folder / f"{i:03d}.bmp")
                else:
                    image.save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos") / "photos")


def _config(folder: Path, path: Path, epochs: int = 2, batch: int = 16) -> Path:
    config = folder / "photos.yaml"
    config.write_text(CONFIG.format(path=path, epochs=epochs, batch=batch))
    return config


@pytest.fixture(scope="module")
def trained(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photo-run")
    result = run_experiment(_config(root, photos), runs_dir=root / "runs")
    assert result.status == "completed", result.message
    return result.run_dir


def predict_rows(target: Path, data: Path) -> list[dict[str, str]]:
    """``dltrain predict TARGET DATA`` as CSV rows (notes go to stderr)."""
    result = runner.invoke(app, ["predict", str(target), str(data)])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(result.stdout.splitlines()))


def with_bad_files(photos: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of ``photos`` with a truncated PNG in train/ and a text file named .png in
    test/: (folder, truncated, text)."""
    folder = tmp_path / "photos"
    shutil.copytree(photos, folder)
    good = next((folder / "train" / "Bag").glob("*.png"))
    truncated = folder / "train" / "Bag" / "cut.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = folder / "test" / "Trouser" / "notes.png"
    text.write_text("not an image\n")
    return folder, truncated, text


def test_the_run_records_classes_pixels_and_the_files(trained: Path) -> None:
    spec = json.loads((trained / "data_spec.json").read_text())
    assert spec["kind"] == "image_folder"
    assert spec["raw_inputs"] == [
        {"name": "image", "shape": [16, 16, 1], "dtype": "uint8", "columns": []}
    ]
    assert spec["targets"][0]["class_names"] == ["Bag", "T-shirt", "Trouser"]
    data = json.loads((trained / "run.json").read_text())["data"]["fingerprint"]
    assert data["files"]["count"] == 150 and len(data["files"]["sha256"]) == 64
    splits = data["splits"]
    assert {k: v["examples"] for k, v in splits.items()} == {
        "train": 90,
        "validation": 30,
        "test": 30,
    }
    # Stratified: every class keeps a quarter of its training files for validation.
    assert splits["validation"]["class_counts"] == {"Bag": 10, "T-shirt": 10, "Trouser": 10}
    # Mixed files, converted to grayscale: GIFs are palette (P) images, JPEGs gray (L).
    assert data["seen"] == {
        "size": {"28x28": 150},
        "mode": {"L": 75, "RGBA": 30, "I;16": 30, "P": 15},
    }
    model_txt = (trained / "model.txt").read_text()
    assert "scale_pixels" in model_txt and "augment_flip" in model_txt
    metrics = json.loads((trained / "run.json").read_text())["final_metrics"]["test"]
    assert metrics["accuracy"] > 0.6  # three easy classes of real clothes


def test_check_decodes_every_file_and_summarizes(photos: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(_config(tmp_path, photos))])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "layout: split folders; 3 classes: Bag, T-shirt, Trouser" in out
    assert "train: 90 images" in out and "test: 30 images" in out
    assert "sizes seen: 28x28 (150)" in out
    assert "RGBA" in out and "I;16" in out


def test_bad_files_are_all_named_or_skipped(photos: Path, tmp_path: Path) -> None:
    folder, truncated, text = with_bad_files(photos, tmp_path)
    config = _config(tmp_path, folder)
    result = runner.invoke(app, ["check", str(config)])
    assert result.exit_code == 2, result.output
    assert str(truncated) in result.output and str(text) in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["check", str(config), "--set", "data.bad_files=skip"])
    assert result.exit_code == 0, result.output
    assert "2 unreadable image files left out" in result.output


def test_predict_on_a_file_a_folder_and_an_index(
    trained: Path, photos: Path, tmp_path: Path
) -> None:
    one = sorted((photos / "test" / "Trouser").glob("*.png"))[0]
    single = predict_rows(trained, one)
    assert len(single) == 1 and single[0]["path"] == str(one)
    assert set(single[0]) == {
        "row", "path", "predicted_label", "label_p_Bag", "label_p_T-shirt", "label_p_Trouser"
    }  # fmt: skip
    folder = predict_rows(trained, photos / "test")
    assert len(folder) == 30
    by_path = {row["path"]: row for row in folder}
    assert by_path[str(one)]["predicted_label"] == single[0]["predicted_label"]
    truth = {row["path"]: Path(row["path"]).parent.name for row in folder}
    right = sum(row["predicted_label"] == truth[row["path"]] for row in folder)
    assert right >= 18
    index = tmp_path / "index.csv"
    chosen = sorted(by_path)[:4]
    index.write_text("path\n" + "".join(f"{os.path.relpath(p, tmp_path)}\n" for p in chosen))
    listed = predict_rows(trained, index)
    assert [row["path"] for row in listed] == chosen
    assert [row["predicted_label"] for row in listed] == [
        by_path[p]["predicted_label"] for p in chosen
    ]


def test_eval_on_another_folder(trained: Path, photos: Path) -> None:
    # The run's own test files as "another" folder: the same accuracy as the run measured.
    result = runner.invoke(app, ["eval", str(trained), "--data", str(photos / "test")])
    assert result.exit_code == 0, result.output
    written = sorted(trained.glob("eval-*.json"))
    assert len(written) == 1
    metrics = json.loads(written[0].read_text())["metrics"]
    run_test = json.loads((trained / "run.json").read_text())["final_metrics"]["test"]
    assert metrics["accuracy"] == pytest.approx(run_test["accuracy"], abs=1e-6)


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_exports_take_raw_uint8_pixels(trained: Path, photos: Path, fmt: str) -> None:
    result = runner.invoke(app, ["export", str(trained), "--format", fmt, "--no-latency"])
    assert result.exit_code == 0, result.output
    artifact = next(
        p
        for p in (trained / "export").iterdir()
        if p.name.startswith("best.")
        and not p.name.endswith(".json")
        and fmt.split("_")[0] in p.name.replace(".", "_")
    )
    record = json.loads(artifact.with_name(artifact.name + ".export.json").read_text())
    assert record["inputs"] == [{"name": "image", "shape": [None, 16, 16, 1], "dtype": "uint8"}]
    assert record["verification"]["status"] == "verified"
    # Augmentation is off in the export: the same files get the run's own predictions.
    from_run = predict_rows(trained, photos / "test" / "Bag")
    from_export = predict_rows(artifact, photos / "test" / "Bag")
    assert [r["predicted_label"] for r in from_export] == [r["predicted_label"] for r in from_run]
    for mine, theirs in zip(from_export, from_run, strict=True):
        assert float(mine["label_p_Bag"]) == pytest.approx(float(theirs["label_p_Bag"]), abs=1e-5)


def test_sigkill_then_resume_is_bit_exact(photos: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, photos, epochs=3, batch=2)
    # No plots (the module's trained run draws them): the test compares the training itself.
    config.write_text(config.read_text() + "output: {plots: false}\n")
    reference = run_experiment(config, runs_dir=tmp_path / "ref")
    assert reference.status == "completed"
    runs = tmp_path / "runs"
    run_dir = killed_after_epoch_one(config, runs, "photos")
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    resumed = runner.invoke(app, ["run", "--resume", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output

    def losses(folder: Path) -> list[tuple[str, str]]:
        with (folder / "metrics.csv").open() as handle:
            return [(r["loss"], r["val_loss"]) for r in csv.DictReader(handle)]

    assert losses(run_dir) == losses(reference.run_dir)
    # With the CLI's settings (conftest.py enters them, the killed subprocess inherits them):
    # on x86-64, TensorFlow's oneDNN kernels, on both sides of the kill.
    started = json.loads((reference.run_dir / "run.json").read_text())["platform"]["onednn"]
    finished = json.loads((run_dir / "run.json").read_text())
    if platform.machine() in ("x86_64", "AMD64"):
        assert started is True
    assert finished["platform"]["onednn"] is started
    assert finished["resumes"][0]["onednn"] is started
    assert "oneDNN" not in resumed.output  # same kernels: no note
