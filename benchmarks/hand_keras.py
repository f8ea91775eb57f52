"""The models of the shipped configs written by hand in Keras: the baselines dltrain is measured by.

``--model`` picks one, each exactly as its config builds it, trained with ``model.fit`` on real
Fashion-MNIST as NumPy float32 arrays scaled by 1/255, one-hot labels, adam, categorical
cross-entropy, the test set as validation data; then ``model.evaluate`` on the test set:

- ``mlp`` (configs/mnist_mlp.yaml): Flatten -> Dense 512 relu -> Dense 10 softmax, batch 32;
- ``cnn`` (configs/mnist_cnn.yaml): Conv2D 32 -> pool -> Conv2D 64 -> pool -> Flatten ->
  Dropout 0.5 -> Dense 10, batch 128;
- ``rnn`` (configs/mnist_rnn.yaml): LSTM 64 over the 28 rows -> Dense 10, batch 128;
- ``fashion_cnn`` (configs/fashion_mnist_cnn.yaml): flip/translate/zoom augmentation, the
  CNN with Dense 128 and Dropout 0.25, batch 128.

Prints one line ``RESULT {json}`` with the timings. Run by ``train_vs_keras.py``; also alone:

    python benchmarks/hand_keras.py --model mlp --epochs 3 [--verbose auto]
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the heavy imports: time to first step counts them

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

DATA = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a NumPy array."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


BATCH = {"mlp": 32, "cnn": 128, "rnn": 128, "fashion_cnn": 128}


def build(name: str) -> Any:
    """The named model, layer for layer as its config in configs/ builds it."""
    import keras

    layers = keras.layers
    if name == "mlp":
        body = [
            keras.Input((28, 28)),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    elif name == "rnn":
        body = [keras.Input((28, 28)), layers.LSTM(64), layers.Dense(10, activation="softmax")]
    else:
        augment = [
            layers.RandomFlip(mode="horizontal"),
            layers.RandomTranslation(height_factor=0.05, width_factor=0.05),
            layers.RandomZoom(height_factor=0.05),
        ]
        convolutions = [
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
        ]
        if name == "cnn":
            head = [layers.Dropout(0.5), layers.Dense(10, activation="softmax")]
            body = [keras.Input((28, 28, 1)), *convolutions, *head]
        else:
            head = [
                layers.Dropout(0.25),
                layers.Dense(128, activation="relu"),
                layers.Dropout(0.25),
                layers.Dense(10, activation="softmax"),
            ]
            body = [keras.Input((28, 28, 1)), *augment, *convolutions, *head]
    return keras.Sequential(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(BATCH), default="mlp")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--verbose", default="0", help="0, 1, 2 or auto (Keras's default)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=None, help="first N examples per split")
    args = parser.parse_args()

    import keras

    keras.utils.set_random_seed(args.seed)
    x_train = read_idx(DATA / "train-images-idx3-ubyte.gz").astype("float32") / 255
    y_train = read_idx(DATA / "train-labels-idx1-ubyte.gz")
    x_test = read_idx(DATA / "t10k-images-idx3-ubyte.gz").astype("float32") / 255
    y_test = read_idx(DATA / "t10k-labels-idx1-ubyte.gz")
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
        x_test, y_test = x_test[: args.limit], y_test[: args.limit]
    if args.model in ("cnn", "fashion_cnn"):
        x_train, x_test = x_train[..., None], x_test[..., None]  # a channel axis for Conv2D
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)

    model = build(args.model)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.first_step: float | None = None
            self.epoch_times: list[float] = []
            self._begin = 0.0

        def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
            self._begin = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            if self.first_step is None:
                self.first_step = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            self.epoch_times.append(time.perf_counter() - self._begin)

    timer = Timer()
    # Keras would dispatch an async-unsafe batch hook synchronously; mark ours as safe, as
    # dltrain's own batch callbacks are, so both sides pay the same for the first-step hook.
    timer.async_safe = True  # type: ignore[attr-defined]
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
    fit_start = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=BATCH[args.model],
        validation_data=(x_test, y_test),
        verbose=verbose,
        callbacks=[timer],
    )
    train_s = time.perf_counter() - fit_start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    result = {
        "epoch_times_s": timer.epoch_times,
        "train_s": train_s,
        "time_to_first_step_s": (timer.first_step or STARTED) - STARTED,
        "test_loss": float(loss),
        "test_accuracy": float(accuracy),
        "total_s": time.perf_counter() - STARTED,
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
