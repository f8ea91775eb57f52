"""Image-folder ingest: ``kind: image_folder`` against ``keras.utils.image_dataset_from_directory``.

The same folder (``train/<class>/*``), the same target size and colour mode, batches of 64,
shuffled. Each side runs in its own fresh process (so peak memory is its own) and reports:

- ``load_s``: from the call to a ready pipeline (dltrain decodes every file here, once;
  Keras only lists the files);
- ``epoch1_s`` / ``epoch2_s``: one pass over every training batch (Keras decodes every file
  again each epoch; dltrain gathers from memory) -> images per second;
- ``peak_rss_mib``: the process's peak resident memory (``ru_maxrss``), TensorFlow included;
- ``baseline_rss_mib``: the same process's peak after importing TensorFlow, before any data.

Sides: ``keras``, ``dltrain`` (decoded once into memory, the default below a quarter of RAM)
and ``dltrain_stream`` (``data.stream: true``: every file checked once, then each batch decoded
when it is needed, so memory stays bounded whatever the folder's size).

Folders (made once under ``--root``, real Fashion-MNIST pixels, 10 classes):

- ``png28``: 28x28 grayscale PNGs, as ``examples/fashion_folder.py`` writes them;
- ``jpeg256``: the same images upscaled to 256x256 RGB JPEGs (quality 90), read at 128x128,
  the size class of a photo data set.

    python benchmarks/image_ingest.py --root /tmp/ingest --per-class 500

Prints one ``RESULT {json}`` line per (folder, side). Run alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FASHION = Path("/usr/share/datasets/fashion-mnist")
CASES = {
    "png28": {"size": [28, 28], "color_mode": "grayscale"},
    "jpeg256": {"size": [128, 128], "color_mode": "rgb"},
}


def make_folders(root: Path, per_class: int) -> None:
    """Write both folders (skipped when already there)."""
    from PIL import Image

    from dltrain.data.idx import read_idx_pair

    images, labels = read_idx_pair(
        FASHION / "train-images-idx3-ubyte.gz", FASHION / "train-labels-idx1-ubyte.gz", None
    )
    for case in CASES:
        done = root / case / ".done"
        if done.exists():
            continue
        for label in range(10):
            folder = root / case / "train" / f"class_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for number in np.flatnonzero(labels == label)[:per_class]:
                image = Image.fromarray(images[number])
                if case == "png28":
                    image.save(folder / f"{number:05d}.png")
                else:
                    big = image.convert("RGB").resize((256, 256), Image.Resampling.BILINEAR)
                    big.save(folder / f"{number:05d}.jpg", quality=90)
        done.write_text("")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _epochs(ds: Any) -> list[float]:
    times = []
    for _ in range(2):
        start = time.perf_counter()
        for _batch in ds:
            pass
        times.append(time.perf_counter() - start)
    return times


def run_dltrain(folder: Path, case: str, stream: bool = False) -> dict[str, Any]:
    import tensorflow as tf  # noqa: F401 - imported first, as for Keras: the baseline

    from dltrain.config.schema import ExperimentConfig
    from dltrain.data import load_datasets

    baseline = _rss_mib()
    config = ExperimentConfig.model_validate(
        {
            "data": {
                "kind": "image_folder",
                "path": str(folder),
                "image_size": CASES[case]["size"],
                "color_mode": CASES[case]["color_mode"],
                "validation": None,
                "test": 0.01,
                "stream": stream,
            },
            "model": {"layers": ["Flatten"]},
            "training": {"batch_size": 64},
        }
    )
    start = time.perf_counter()
    datasets = load_datasets(config)
    load_s = time.perf_counter() - start
    times = [0.0, 0.0]
    for epoch in range(2):
        ds, _ = datasets.train_dataset(64, seed=0, start_epoch=epoch, epochs=epoch + 1)
        t0 = time.perf_counter()
        for _batch in ds:
            pass
        times[epoch] = time.perf_counter() - t0
    n = datasets.train_size
    return _result("dltrain_stream" if stream else "dltrain", case, n, load_s, times, baseline)


def run_keras(folder: Path, case: str) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    baseline = _rss_mib()
    start = time.perf_counter()
    ds = keras.utils.image_dataset_from_directory(
        folder / "train",
        image_size=tuple(CASES[case]["size"]),
        color_mode=CASES[case]["color_mode"],
        batch_size=64,
        shuffle=True,
        seed=0,
        verbose=False,
    ).prefetch(tf.data.AUTOTUNE)
    load_s = time.perf_counter() - start
    n = sum(1 for p in (folder / "train").rglob("*") if p.is_file())
    return _result("keras", case, n, load_s, _epochs(ds), baseline)


def _result(
    side: str, case: str, n: int, load_s: float, times: list[float], baseline: float
) -> dict[str, Any]:
    return {
        "side": side,
        "case": case,
        "images": n,
        "load_s": round(load_s, 2),
        "epoch1_s": round(times[0], 2),
        "epoch2_s": round(times[1], 2),
        "images_per_s_epoch1": round(n / times[0]),
        "images_per_s_epoch2": round(n / times[1]),
        "images_per_s_first_epoch_with_load": round(n / (load_s + times[0])),
        "peak_rss_mib": round(_rss_mib()),
        "baseline_rss_mib": round(baseline),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/dltrain-ingest"))
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, case = args.child
        folder = args.root / case
        if side == "keras":
            result = run_keras(folder, case)
        else:
            result = run_dltrain(folder, case, stream=side == "dltrain_stream")
        print("RESULT " + json.dumps(result), flush=True)
        return
    make_folders(args.root, args.per_class)
    for case in CASES:
        for side in ("keras", "dltrain", "dltrain_stream"):
            command = [sys.executable, __file__, "--root", str(args.root), "--child", side, case]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            print(next(line for line in done.stdout.splitlines() if line.startswith("RESULT")))


if __name__ == "__main__":
    main()
