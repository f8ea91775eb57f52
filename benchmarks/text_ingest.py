"""Tokenization speed: a CSV text column through dltrain against a hand-written pipeline.

The file: the review snippets of ../shared/data/rotten_tomatoes_corpus_full.csv.bz2 (plot
rows left out) repeated ``--repeat`` times into one plain CSV ``text,label`` (default 20:
256,160 rows). Both sides, each in its own fresh process:

- ``keras``: the csv module reads the file, ``TextVectorization(max_tokens=20000,
  output_sequence_length=64).adapt`` on the training rows (a seeded 64 % of them, as dltrain's
  default test 0.2 and validation 0.2 leave), then one pass of ``tf.data`` batches of 64
  mapped through the layer;
- ``dltrain``: ``load_datasets`` on the equivalent config (read, split, adapt: the same
  layer and settings), then one pass of its training batches mapped through the model's own
  ``TextVectorization`` layer (as training feeds it).

Each reports ``adapt_s`` (from the file to an adapted vocabulary, reading included),
``feed_s`` (one pass of tokenized batches) and rows per second for both.

    python benchmarks/text_ingest.py --repeat 20

Prints one ``RESULT {json}`` line per side. Run alone on the machine.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REVIEWS = SHARED / "rotten_tomatoes_corpus_full.csv.bz2"

CONFIG = """\
name: text_ingest
seed: 0
data:
  kind: csv
  path: {path}
  target: label
  task: binary
  text:
    text: {{max_tokens: 20000, output_mode: int, sequence_length: 64}}
model:
  layers:
    - Embedding: {{input_dim: 20000, output_dim: 8}}
    - GlobalAveragePooling1D: {{}}
    - Dense: {{units: 1, activation: sigmoid}}
training: {{batch_size: 64}}
"""


def write_file(folder: Path, repeat: int) -> Path:
    """The benchmark CSV (made once per repeat count)."""
    path = folder / f"reviews_x{repeat}.csv"
    if path.exists():
        return path
    with bz2.open(REVIEWS, "rb") as handle:
        rows = list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8-sig")))
    rows = [r for r in rows if r["category"] != "plot"]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        for _ in range(repeat):
            writer.writerows((r["text"], r["category"]) for r in rows)
    return path


def keras_side(path: Path) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = np.array([r["text"] for r in rows], dtype=object)
    labels = np.array([r["label"] == "rotten" for r in rows], np.float32)
    keep = np.random.default_rng(0).random(len(texts)) < 0.64
    train, train_labels = texts[keep], labels[keep]
    layer = keras.layers.TextVectorization(max_tokens=20000, output_sequence_length=64)
    layer.adapt(train, batch_size=4096)
    adapt_s = time.perf_counter() - start
    ds = tf.data.Dataset.from_tensor_slices((train.astype(str), train_labels)).batch(64)
    ds = ds.map(lambda t, y: (layer(t), y), num_parallel_calls=tf.data.AUTOTUNE)
    return {"rows": len(texts), "train_rows": len(train), "adapt_s": adapt_s, **_feed(ds)}


def dltrain_side(path: Path) -> dict[str, Any]:
    import tensorflow as tf

    from dltrain.config import load_config
    from dltrain.data import load_datasets
    from dltrain.model import build_model

    config_path = path.with_suffix(".yaml")
    config_path.write_text(CONFIG.format(path=path))
    config = load_config(config_path).config
    start = time.perf_counter()
    datasets = load_datasets(config)
    adapt_s = time.perf_counter() - start
    layer = build_model(config, datasets.spec).get_layer("text_vectorize")
    ds, _ = datasets.train_dataset(64, seed=0, epochs=1, shuffle=False)
    ds = ds.map(lambda t, y: (layer(t), y), num_parallel_calls=tf.data.AUTOTUNE)
    rows = datasets.train_size + datasets.validation_size + datasets.test_size
    return {"rows": rows, "train_rows": datasets.train_size, "adapt_s": adapt_s, **_feed(ds)}


def _feed(ds: Any) -> dict[str, float]:
    start = time.perf_counter()
    fed = 0
    for tokens, _ in ds:
        fed += int(tokens.shape[0])
    return {"feed_s": time.perf_counter() - start, "fed_rows": fed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--root", type=Path, default=Path("/tmp/text_ingest"))
    parser.add_argument("--side", choices=["keras", "dltrain"])
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    path = write_file(args.root, args.repeat)
    if args.side is not None:
        result = keras_side(path) if args.side == "keras" else dltrain_side(path)
        result["adapt_rows_per_s"] = result["train_rows"] / result["adapt_s"]
        result["feed_rows_per_s"] = result["fed_rows"] / result["feed_s"]
        print("RESULT " + json.dumps({"side": args.side, **result}), flush=True)
        return
    for side in ("keras", "dltrain", "keras", "dltrain"):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--repeat",
                str(args.repeat),
                "--root",
                str(args.root),
                "--side",
                side,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        print(next(line for line in done.stdout.splitlines() if line.startswith("RESULT")))


if __name__ == "__main__":
    main()
