"""configs/text/embedding.yaml written by hand in Keras: the baseline for its accuracy and speed.

The same review snippets (../shared/data/rotten_tomatoes_corpus_full.csv.bz2, read with the
csv module, the ``plot`` rows left out), the same split: whole movies per split, cut by
dltrain's own seeded group cut (``dltrain.data.csv.groups.cut_groups``, the only dltrain
code used here, so both sides train and test on exactly the same rows); the same model layer
for layer (TextVectorization 20,000 tokens, 64 per review, adapted on the training rows;
Embedding 32; GlobalAveragePooling1D; Dropout 0.3; Dense 1 sigmoid), adam 1e-3, batch 32,
10 epochs, validation on the held-out movies. dltrain tests its checkpoint with the best
``val_loss``: so does this script (``EarlyStopping(restore_best_weights=True)`` without early
stopping), and it also reports the last epoch's test accuracy.

    python benchmarks/text_keras.py --seed 42
    # RESULT {"seed": 42, "test_accuracy_best": ..., "test_accuracy_last": ..., ...}

Compare with ``dltrain run configs/text/embedding.yaml --set seed=42`` (docs/guide.md).
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
)


def read_split(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(texts, labels 0 fresh / 1 rotten) per split, cut by movie as the config does."""
    from dltrain.data.csv.groups import cut_groups
    from dltrain.data.csv.stats import TEST, TRAIN, VALIDATION

    with bz2.open(DATA, "rb") as handle:
        rows = list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8-sig")))
    movies = np.array([r["movie_name"].strip() for r in rows], dtype=object)
    # The cut sees every row, plot rows included, as dltrain's does (exclusion comes after).
    codes = cut_groups(movies, seed, 0.2, 0.2, "movie_name")
    out = {}
    for name, code in (("train", TRAIN), ("validation", VALIDATION), ("test", TEST)):
        chosen = [r for r, c in zip(rows, codes, strict=True) if c == code]
        chosen = [r for r in chosen if r["category"].strip() != "plot"]
        texts = np.array([r["text"].strip() for r in chosen])
        labels = np.array([r["category"].strip() == "rotten" for r in chosen], np.float32)
        out[name] = (texts, labels)
    return out


def build(train_texts: np.ndarray, seed: int) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    vectorize = keras.layers.TextVectorization(max_tokens=20000, output_sequence_length=64)
    vectorize.adapt(train_texts)
    model = keras.Sequential(
        [
            keras.Input(shape=(), dtype="string"),
            vectorize,
            keras.layers.Embedding(20000, 32),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    import keras

    start = time.perf_counter()
    splits = read_split(args.seed)
    (x, y), (vx, vy), (tx, ty) = splits["train"], splits["validation"], splits["test"]
    model = build(x, args.seed)
    times: list[float] = []
    stamp = time.perf_counter()

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            nonlocal stamp
            now = time.perf_counter()
            times.append(now - stamp)
            stamp = now

    last = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=args.epochs, restore_best_weights=False
    )
    best = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=args.epochs, restore_best_weights=True
    )
    import tensorflow as tf

    def batches(texts: np.ndarray, labels: np.ndarray, shuffle: bool) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((texts, labels))
        if shuffle:
            ds = ds.shuffle(len(texts), seed=args.seed, reshuffle_each_iteration=True)
        return ds.batch(32).prefetch(tf.data.AUTOTUNE)

    train, validation, test = batches(x, y, True), batches(vx, vy, False), batches(tx, ty, False)
    model.fit(
        train, epochs=args.epochs, validation_data=validation, callbacks=[Clock(), last], verbose=0
    )
    last_accuracy = model.evaluate(test, verbose=0)[1]
    # The best epoch by val_loss, as dltrain's checkpoint: a second, identical fit.
    model = build(x, args.seed)
    model.fit(train, epochs=args.epochs, validation_data=validation, callbacks=[best], verbose=0)
    best_accuracy = model.evaluate(test, verbose=0)[1]
    result = {
        "seed": args.seed,
        "rows": {"train": len(x), "validation": len(vx), "test": len(tx)},
        "test_accuracy_best": round(float(best_accuracy), 4),
        "test_accuracy_last": round(float(last_accuracy), 4),
        "epoch_s": [round(t, 2) for t in times],
        "total_s": round(time.perf_counter() - start, 1),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
