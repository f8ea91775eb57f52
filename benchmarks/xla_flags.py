"""XLA's CPU flags on the classic MLP's compiled step alone (resident data, no dltrain).

    python benchmarks/xla_flags.py [--repeats 2] [--flags "--xla_cpu_use_onednn=true" ...]

Each variant is a fresh process with ``XLA_FLAGS`` set (XLA reads it once): the classic MLP
(Flatten -> Dense 512 relu -> Dense 10 softmax, adam) compiled with ``jit_compile=True`` and
15 batches per execution trains 2 epochs of Fashion-MNIST at batch 32 from float32 batches
already in memory, validating on the test set; the second epoch's wall and process CPU time
are reported, so only the compiled step (and the validation pass) is measured.
"""

from __future__ import annotations

import argparse
import os
import sys

from _bench import machine, median, need_fashion_mnist, run, table

VARIANTS = [
    "",
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_use_onednn=true --xla_cpu_use_xnnpack=true",
    "--xla_cpu_use_xnnpack=true",
    "--xla_cpu_use_thunk_runtime=false",
]

CHILD = r"""
import gzip, json, time
from pathlib import Path
import numpy as np
import keras, tensorflow as tf

DATA = Path("/usr/share/datasets/fashion-mnist")
def read_idx(path):
    raw = gzip.decompress(path.read_bytes()); ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)
def batches(x, y, batch):
    n = len(x) // batch * batch
    xs = (x[:n].astype("float32") / 255).reshape(-1, batch, 28, 28)
    ys = np.eye(10, dtype="float32")[y[:n]].reshape(-1, batch, 10)
    return tf.data.Dataset.from_tensor_slices((xs, ys)).cache()
train = batches(read_idx(DATA / "train-images-idx3-ubyte.gz"),
                read_idx(DATA / "train-labels-idx1-ubyte.gz"), 32).repeat(2).prefetch(2)
test = batches(read_idx(DATA / "t10k-images-idx3-ubyte.gz"),
               read_idx(DATA / "t10k-labels-idx1-ubyte.gz"), 250)
keras.utils.set_random_seed(1)
model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                          keras.layers.Dense(512, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"],
              steps_per_execution=15, jit_compile=True)
times = []
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t, self.c = time.perf_counter(), time.process_time()
    def on_epoch_end(self, epoch, logs=None):
        times.append((time.perf_counter() - self.t, time.process_time() - self.c))
model.fit(train, epochs=2, steps_per_epoch=1875, validation_data=test, verbose=0,
          callbacks=[Timer()])
print("RESULT " + json.dumps({"wall": times[1][0], "cpu": times[1][1]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--flags", nargs="*", default=VARIANTS, help="XLA_FLAGS values")
    args = parser.parse_args()
    need_fashion_mnist()
    print(f"machine: {machine()}", flush=True)
    results: dict[str, list[dict[str, float]]] = {flags: [] for flags in args.flags}
    for repeat in range(args.repeats):
        shift = repeat % len(args.flags)
        for flags in args.flags[shift:] + args.flags[:shift]:
            env = {"XLA_FLAGS": flags, "TF_XLA_FLAGS": os.environ.get("TF_XLA_FLAGS", "")}
            proc = run([sys.executable, "-c", CHILD], env=env)
            result = proc.json_line()
            results[flags].append(result)
            print(f"{flags or '(none)'}: {result}", file=sys.stderr, flush=True)
    base = results[args.flags[0]]
    rows = [
        [
            flags or "(none)",
            median(r["wall"] for r in rs),
            median(b["wall"] / r["wall"] for b, r in zip(base, rs, strict=True)),
            median(r["cpu"] for r in rs),
        ]
        for flags, rs in results.items()
    ]
    print()
    print(table(["XLA_FLAGS", "epoch 2 (s)", "speed-up vs the first", "epoch 2 CPU (s)"], rows))


if __name__ == "__main__":
    main()
